"""Turns criterion's estimates (target/criterion/<group>/<bench>/<param>/new/estimates.json) and the
wire-size figures the bench writes (target/criterion/wire-size.json) into the core section of
BENCHMARKS.md, between the markers <!-- core:begin --> and <!-- core:end -->."""
import json
import pathlib
import platform
import subprocess
import sys

root, out, command = pathlib.Path(sys.argv[1]), pathlib.Path(sys.argv[2]), sys.argv[3].strip()


def ns(group, bench, param=None):
    path = root / group / bench / (str(param) if param is not None else "") / "new" / "estimates.json"
    data = json.loads(path.read_text())
    return (data.get("slope") or data["mean"])["point_estimate"]


def fmt_ns(value):
    if value >= 1e6:
        return f"{value / 1e6:.2f} ms"
    return f"{value:.1f} ns" if value < 1000 else f"{value / 1000:.2f} µs"


lines = []
rustc = subprocess.run(["rustc", "--version"], capture_output=True, text=True).stdout.strip()
lines.append(f"Command: `{command}`. Machine: {platform.machine()}, {rustc}, criterion.")
lines.append("Ratios compare measurements of the same run; absolute times are for orientation only.")
lines.append("")
lines.append("### Per-sample cost: window + statistics + trend + anomaly (`per_sample`)")
lines.append("")
lines.append("| window N | ring push (baseline) | rackwatch pipeline | naive recompute | pipeline ÷ ring push | naive ÷ pipeline |")
lines.append("|---:|---:|---:|---:|---:|---:|")
pipeline = {}
for n in (64, 1024, 4096):
    ring, pipe, naive = ns("per_sample", "ring_push", n), ns("per_sample", "pipeline", n), ns("per_sample", "naive_recompute", n)
    pipeline[n] = pipe
    lines.append(f"| {n} | {fmt_ns(ring)} | {fmt_ns(pipe)} | {fmt_ns(naive)} | {pipe / ring:.1f}× | {naive / pipe:.1f}× |")
lines.append("")
lines.append(
    f"Flatness (O(1)): pipeline at N=4096 ÷ N=64 = **{pipeline[4096] / pipeline[64]:.2f}×**; "
    f"N=1024 ÷ N=64 = {pipeline[1024] / pipeline[64]:.2f}×."
)
lines.append("")
lines.append("### Per-sample cost of a whole metric: `Monitor::observe` (`per_sample/monitor`)")
lines.append("")
lines.append(
    "The pipeline above plus the alert rule (thresholds with hysteresis, forecast horizon, N-of-M and "
    "`for` debounce, missing data, flap detection) and its state machine."
)
lines.append("")
lines.append("| window N | ring push (baseline) | monitor observe | observe ÷ ring push | observe ÷ pipeline |")
lines.append("|---:|---:|---:|---:|---:|")
for n in (64, 1024, 4096):
    ring, observe = ns("per_sample", "ring_push", n), ns("per_sample", "monitor", n)
    lines.append(f"| {n} | {fmt_ns(ring)} | {fmt_ns(observe)} | {observe / ring:.1f}× | {observe / pipeline[n]:.2f}× |")
lines.append("")

sizes_path = root / "wire-size.json"
if sizes_path.exists():
    sizes = json.loads(sizes_path.read_text())
    readings = sizes["readings"]
    lines.append(f"### Wire: a batch of {readings} readings (`wire`)")
    lines.append("")
    lines.append("| encoding | bytes | bytes per reading | encode | decode | encode ÷ rackwatch | decode ÷ rackwatch |")
    lines.append("|---|---:|---:|---:|---:|---:|---:|")
    enc_rw, dec_rw = ns("wire", "encode_rackwatch"), ns("wire", "decode_rackwatch")
    for label, key, enc, dec in (
        ("rackwatch frame (COBS, header, postcard, CRC-32)", "rackwatch", enc_rw, dec_rw),
        ("JSON lines (serde_json)", "json_lines", ns("wire", "encode_json_lines"), ns("wire", "decode_json_lines")),
    ):
        total = sizes[key]
        lines.append(
            f"| {label} | {total} | {total / readings:.2f} | {fmt_ns(enc)} | {fmt_ns(dec)} | {enc / enc_rw:.1f}× | {dec / dec_rw:.1f}× |"
        )
    lines.append("")
    lines.append(
        f"JSON lines take **{sizes['json_lines'] / sizes['rackwatch']:.1f}×** the bytes of rackwatch frames for the same readings."
    )
    lines.append("")

def replace(text, name, body):
    begin, end = f"<!-- {name}:begin -->", f"<!-- {name}:end -->"
    if begin not in text:
        text = text.rstrip("\n") + f"\n\n{begin}{end}\n"
    start, stop = text.index(begin), text.index(end) + len(end)
    return text[:start] + begin + "\n" + body + end + text[stop:]


text = out.read_text() if out.exists() else "# Benchmarks\n\n## Core\n\n"
text = replace(text, "core", "\n".join(lines))

size_path = root / "ingest-size.json"
if size_path.exists() and (root / "ingest" / "decode").exists():
    size = json.loads(size_path.read_text())
    host = [f"Command: `{command}`. Machine: {platform.machine()}, {rustc}, criterion, one thread.", ""]
    host.append(
        f"A capture of {size['nodes']} nodes × {size['metrics']} metrics, {size['readings']} readings in "
        f"{size['bytes']} bytes of line frames, through the host's ingest (`host/benches/ingest.rs`):"
    )
    host.append("")
    host.append("| stage | time per capture | readings/s | ÷ decode alone |")
    host.append("|---|---:|---:|---:|")
    decode = ns("ingest", "decode")
    for label, bench in (
        ("decode only (COBS, CRC, postcard) — baseline", "decode"),
        ("decode → dedupe → node registry → host monitors", "pipeline"),
        ("… → SQLite history (row per reading, batched transactions, WAL)", "pipeline_sqlite"),
    ):
        t = ns("ingest", bench)
        host.append(f"| {label} | {fmt_ns(t)} | {size['readings'] / (t / 1e9) / 1e6:.2f} M | {t / decode:.1f}× |")
    host.append("")
    text = replace(text, "host-ingest", "\n".join(host))
out.write_text(text)
print(f"wrote {out}")
