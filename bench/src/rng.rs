//! The benchmarks' deterministic noise: the core's xorshift64* ([`XorShift64Star`]) drawn the way
//! the generated curves were first drawn, with Box-Muller normals.
//!
//! Invariant: the same seed gives the same sequence on every platform and build, so a benchmark's
//! `--seed` reproduces its table exactly; the seeding and the [0, 1) mapping below are the ones the
//! published ETA figures were generated with.

use rackwatch_core::rng::XorShift64Star;

/// Deterministic noise for the benchmarks.
#[derive(Debug, Clone)]
pub struct Rng(XorShift64Star);

impl Rng {
    /// A generator; the same seed gives the same numbers.
    pub fn new(seed: u64) -> Rng {
        // The golden-ratio multiply spreads nearby seeds apart; `| 1` keeps the state non-zero.
        Rng(XorShift64Star::new(
            seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1,
        ))
    }

    /// Uniform in [0, 1): the top 53 bits (0 can come out, unlike the core's `uniform`).
    pub fn uniform(&mut self) -> f64 {
        (self.0.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// Uniform in [lo, hi).
    pub fn range(&mut self, lo: f64, hi: f64) -> f64 {
        lo + (hi - lo) * self.uniform()
    }

    /// Standard normal.
    pub fn normal(&mut self) -> f64 {
        // ln(0) would be −∞: the smallest positive draw stands in for 0.
        let u = self.uniform().max(1e-300);
        let v = self.uniform();
        (-2.0 * u.ln()).sqrt() * (std::f64::consts::TAU * v).cos()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn draws_are_reproducible_in_range_and_roughly_normal() {
        let mut a = Rng::new(7);
        let mut b = Rng::new(7);
        let xs: Vec<f64> = (0..10_000).map(|_| a.uniform()).collect();
        assert!(xs.iter().all(|x| (0.0..1.0).contains(x)));
        assert!(xs
            .iter()
            .zip((0..).map(|_| b.uniform()))
            .all(|(x, y)| *x == y));
        assert_ne!(Rng::new(8).uniform(), Rng::new(7).uniform());
        let normals: Vec<f64> = (0..10_000).map(|_| a.normal()).collect();
        let mean = normals.iter().sum::<f64>() / 1e4;
        let var = normals.iter().map(|x| (x - mean) * (x - mean)).sum::<f64>() / 1e4;
        assert!(
            mean.abs() < 0.05 && (var - 1.0).abs() < 0.05,
            "{mean} {var}"
        );
        let r = a.range(-3.0, -2.0);
        assert!((-3.0..-2.0).contains(&r));
    }
}
