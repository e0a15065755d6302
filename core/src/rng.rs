//! A small deterministic pseudo-random generator: xorshift64* (Vigna, 2016).
//!
//! Why it exists: the simulated rack must give bit-identical readings on a node and on the host
//! (the QEMU test compares them), the tests need reproducible noise, and the host spreads its
//! reconnection attempts with jitter. All of them need the same few lines without a dependency or
//! an allocator; one implementation keeps every sequence the same wherever it is used.
//!
//! Invariants:
//! - Deterministic: the same seed gives the same sequence on every target. The integer steps are
//!   exact; the floating-point mappings use IEEE basic operations and `libm`, never intrinsics.
//! - The state is never zero (xorshift would stay at zero for ever): a zero seed starts from 1.
//! - Not cryptographic: the output is predictable from a few values. Never use it for secrets,
//!   keys or anything an adversary must not guess.
//! - No allocation, 8 bytes of state, `Copy`.

/// xorshift64*: a 64-bit xorshift step, then a multiplication that scrambles the low bits.
///
/// Period 2⁶⁴ − 1; the high bits are the good ones, so every mapping below takes them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct XorShift64Star {
    state: u64,
}

/// The multiplier of xorshift64* (Vigna's `M_32`).
const MULTIPLIER: u64 = 0x2545_F491_4F6C_DD1D;

impl XorShift64Star {
    /// A generator; the same seed gives the same numbers. Seed 0 behaves as seed 1.
    pub const fn new(seed: u64) -> Self {
        XorShift64Star {
            state: if seed == 0 { 1 } else { seed },
        }
    }

    /// The next 64 bits.
    pub fn next_u64(&mut self) -> u64 {
        self.state ^= self.state >> 12;
        self.state ^= self.state << 25;
        self.state ^= self.state >> 27;
        self.state.wrapping_mul(MULTIPLIER)
    }

    /// Uniform in (0, 1): the top 53 bits, centred in their step, so neither 0 nor 1 ever comes out
    /// and `ln` of it is always finite.
    pub fn uniform(&mut self) -> f64 {
        ((self.next_u64() >> 11) as f64 + 0.5) / (1u64 << 53) as f64
    }

    /// Uniform in [0, 1) as an `f32`: the top 24 bits, every value exact in `f32`.
    pub fn uniform_f32(&mut self) -> f32 {
        (self.next_u64() >> 40) as f32 / (1u64 << 24) as f32
    }

    /// Standard normal, Box-Muller from two [`uniform`](Self::uniform) draws.
    pub fn gaussian(&mut self) -> f64 {
        let (u1, u2) = (self.uniform(), self.uniform());
        libm::sqrt(-2.0 * libm::log(u1)) * libm::cos(2.0 * core::f64::consts::PI * u2)
    }

    /// Standard normal in `f32`, Box-Muller from two [`uniform_f32`](Self::uniform_f32) draws; the
    /// first is kept above 0 so that its logarithm is finite. What the simulated rack's noise uses.
    pub fn gaussian_f32(&mut self) -> f32 {
        let u1 = self.uniform_f32().max(f32::MIN_POSITIVE);
        let u2 = self.uniform_f32();
        libm::sqrtf(-2.0 * libm::logf(u1)) * libm::cosf(core::f32::consts::TAU * u2)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The generator as the core's test noise, the firmware's simulated rack and the host's jitter
    /// each wrote it before they shared this one: the oracle the shared code must equal.
    fn old_step(state: &mut u64) -> u64 {
        *state ^= *state >> 12;
        *state ^= *state << 25;
        *state ^= *state >> 27;
        state.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    #[test]
    fn equals_the_formula_it_replaced() {
        for seed in [1, 2, 42, 0x9E37_79B9_7F4A_7C15 ^ 7, u64::MAX] {
            let mut old = seed;
            let mut rng = XorShift64Star::new(seed);
            for _ in 0..1000 {
                let bits = old_step(&mut old);
                let mut copy = rng;
                assert_eq!(copy.next_u64(), bits);
                assert_eq!(
                    rng.uniform(),
                    ((bits >> 11) as f64 + 0.5) / (1u64 << 53) as f64
                );
            }
            let mut old = seed;
            let mut rng = XorShift64Star::new(seed);
            for _ in 0..1000 {
                let expected = (old_step(&mut old) >> 40) as f32 / (1u64 << 24) as f32;
                assert_eq!(rng.uniform_f32(), expected);
            }
        }
    }

    /// Values the three replaced copies gave before they were replaced, so a change of any mapping
    /// shows here and not only in the simulated rack's or the tests' numbers.
    #[test]
    fn pinned_sequences_of_the_replaced_copies() {
        let mut rng = XorShift64Star::new(1);
        assert_eq!(
            [rng.next_u64(), rng.next_u64(), rng.next_u64()],
            [
                0x47e4_ce4b_896c_dd1d,
                0xabcf_a6a8_e079_651d,
                0xb9d1_0d8f_eb73_1f57
            ]
        );
        // The core's test noise, seed 42.
        let mut rng = XorShift64Star::new(42);
        let gaussians: [u64; 4] = core::array::from_fn(|_| rng.gaussian().to_bits());
        assert_eq!(
            gaussians,
            [
                0x3fd2_f234_7595_7b8f,
                0x3fe4_9ebe_917f_6039,
                0x3fd8_11a0_0c6d_0d84,
                0xbffa_8105_9de4_2630
            ]
        );
        // The simulated rack, seed 1: its seed mixing, the phase draw, then its draws.
        let mut rng = XorShift64Star::new(1 ^ 0x9E37_79B9_7F4A_7C15);
        rng.uniform_f32();
        let uniforms: [u32; 3] = core::array::from_fn(|_| rng.uniform_f32().to_bits());
        let gaussians: [u32; 3] = core::array::from_fn(|_| rng.gaussian_f32().to_bits());
        assert_eq!(uniforms, [0x3e12_e274, 0x3f35_8497, 0x3def_bb08]);
        assert_eq!(gaussians, [0xbf87_9171, 0x401f_d080, 0xbe94_b373]);
    }

    #[test]
    fn zero_seed_is_seed_one() {
        let (mut zero, mut one) = (XorShift64Star::new(0), XorShift64Star::new(1));
        for _ in 0..10 {
            assert_eq!(zero.next_u64(), one.next_u64());
        }
    }

    #[test]
    fn mappings_stay_in_their_ranges_and_look_uniform_and_normal() {
        let mut rng = XorShift64Star::new(7);
        let n = 100_000;
        let (mut sum, mut sum_f32, mut g_sum, mut g_sq) = (0.0, 0.0, 0.0, 0.0);
        for _ in 0..n {
            let u = rng.uniform();
            assert!(u > 0.0 && u < 1.0);
            sum += u;
            let v = rng.uniform_f32();
            assert!((0.0..1.0).contains(&v));
            sum_f32 += f64::from(v);
            let g = rng.gaussian();
            assert!(g.is_finite());
            g_sum += g;
            g_sq += g * g;
            assert!(rng.gaussian_f32().is_finite());
        }
        let n = f64::from(n);
        assert!((sum / n - 0.5).abs() < 0.01, "{}", sum / n);
        assert!((sum_f32 / n - 0.5).abs() < 0.01, "{}", sum_f32 / n);
        assert!((g_sum / n).abs() < 0.02, "{}", g_sum / n);
        assert!((g_sq / n - 1.0).abs() < 0.02, "{}", g_sq / n);
    }
}
