//! Writes a capture of a fleet: N nodes × M metrics, one reading per metric per second for a given
//! time, in the wire format. For measuring the host at scale:
//! `cargo run --release -p rackwatch --example fleet -- 256 16 600 fleet.rwcap`.

use rackwatch::capture::CaptureWriter;
use rackwatch_core::alert::{MissingData, Rule};
use rackwatch_core::anomaly::AnomalyConfig;
use rackwatch_core::monitor::MetricSpec;
use rackwatch_core::wire::{
    Body, Frame, Header, Heartbeat, Hello, Readings, ResetReason, MAX_ENCODED_LEN,
};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [nodes, metrics, seconds, path] = &args[..] else {
        return Err("usage: fleet NODES METRICS SECONDS FILE.rwcap".into());
    };
    let (nodes, metrics, seconds): (u16, u16, u64) =
        (nodes.parse()?, metrics.parse()?, seconds.parse()?);
    let mut writer = CaptureWriter::create(path.as_ref(), "fleet")?;
    let t0 = 1_800_000_000_000u64;
    let mut seqs = vec![0u16; usize::from(nodes)];
    let mut buf = [0u8; MAX_ENCODED_LEN];
    let mut frame = |node: u16, body: Body, out: &mut Vec<u8>| {
        let seq = &mut seqs[usize::from(node)];
        let f = Frame {
            header: Header {
                node_id: node,
                boot_id: 0xF1EE7 + u32::from(node),
                seq: *seq,
            },
            body,
        };
        *seq = seq.wrapping_add(1);
        if let Ok(n) = f.encode(&mut buf) {
            out.extend_from_slice(&buf[..n]);
        }
    };
    let mut bytes = Vec::new();
    for node in 0..nodes {
        frame(
            node,
            Body::Hello(Hello::new("fleet".try_into()?)),
            &mut bytes,
        );
        for m in 0..metrics {
            let rule = Rule {
                missing: MissingData::unknown_after(60_000),
                ..Rule::above(80.0, 90.0)
            };
            let spec =
                MetricSpec::new(m, &format!("metric_{m}"), "u", rule, AnomalyConfig::DEFAULT)?;
            frame(node, Body::Metric(spec), &mut bytes);
        }
    }
    writer.record(t0, &bytes)?;
    // Every 4 s each node sends its 4 readings per metric, and a heartbeat.
    for step in 0..seconds / 4 {
        let mut bytes = Vec::new();
        for node in 0..nodes {
            let mut batch = Readings::new();
            for k in 0..4u64 {
                let t = (step * 4 + k) * 1000;
                for m in 0..metrics {
                    let x = (t / 1000) as f64 / 60.0 + f64::from(m) + f64::from(node) * 0.1;
                    let v = 50.0 + 10.0 * x.sin() + ((t / 1000 + u64::from(m)) % 7) as f64 * 0.05;
                    if batch.push(m, t, v as f32).is_err() {
                        frame(node, Body::Readings(std::mem::take(&mut batch)), &mut bytes);
                        batch.push(m, t, v as f32)?;
                    }
                }
            }
            frame(node, Body::Readings(batch), &mut bytes);
            let hb = Heartbeat {
                uptime_ms: step * 4000,
                reset: ResetReason::PowerOn,
                frames_sent: 0,
                frames_dropped: 0,
                readings_dropped: 0,
                sensor_errors: 0,
            };
            frame(node, Body::Heartbeat(hb), &mut bytes);
        }
        writer.record(t0 + step * 4000, &bytes)?;
    }
    writer.flush()?;
    Ok(())
}
