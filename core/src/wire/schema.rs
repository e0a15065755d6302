//! The schema hash: a fingerprint of every wire type, computed at compile time.

/// Every wire type's fields and variants in order, with the format version and the header layout.
///
/// The rule: any change to a wire type (a field, a variant, a capacity, an order, the header or the
/// CRC) must change this string. A test pins [`SCHEMA_HASH`] and this module's tests pin each enum's
/// encoding, so the change is made deliberately; `docs/wire.md` is updated with it.
///
/// A rename changes no byte (postcard is positional), so the string keeps the names it was pinned
/// with and the hash stays: nodes on either side of a rename still agree with hosts on either side.
/// `AnomalyConfig`'s `cusum_k` and `cusum_h` here are today's `shift_low` and `shift_confirm`.
pub const SCHEMA_STRING: &str = "rackwatch-wire v1;\
header{version:u8,flags:u8[incompat:0-3,compat:4-7],node_id:u16le,boot_id:u32le,seq:u16le,kind:u8};\
crc32-iso-hdlc-le;max_frame:1024;\
kind{1:Hello,2:Readings,3:Transition,4:Heartbeat,5:Log,6:Metric};\
Hello{firmware:str16,schema_hash:u64,metrics:seq16<MetricDescriptor>};\
MetricDescriptor{id:u16,name:str24,unit:str8,rule:RuleSummary,lattice:opt<Lattice>};\
Lattice{offset:f32,step:f32};\
RuleSummary{crossing:Crossing,warning:opt<f32>,critical:opt<f32>};Crossing{Above,Below};\
Readings{base_ms:u64,readings:seq64<Reading>};Reading{metric:u16,offset_ms:u32,value:f32};\
Transition{metric:u16,from:Level,to:Level,at_ms:u64,cause:Cause,alert_seq:u32,suppressed:bool};\
Level{Ok,Warning,Critical,Unknown};\
Cause{Value{value:f32,bound:f32},Eta{eta_ms:u64,threshold:f32},Anomaly{score:f32},\
MissingData{last_seen_ms:u64},SensorFault,FlappingStopped,ForecastReceded{outlook:Outlook}};\
Outlook{Beyond{eta_ms:u64,horizon_ms:u32},Never,Unsure{for_ms:u32}};\
Heartbeat{uptime_ms:u64,reset:ResetReason,frames_sent:u32,frames_dropped:u32,readings_dropped:u32,\
sensor_errors:u32};ResetReason{PowerOn,Pin,Software,Watchdog,Brownout,Unknown};\
Log{defmt:bytes128};\
Metric{id:u16,name:str24,unit:str8,rule:Rule,anomaly:AnomalyConfig};\
Rule{value:Thresholds,predictive:opt<Predictive>,anomaly:opt<AnomalyLevels>,health:Health,\
raise:Debounce,clear:Debounce,missing:MissingData,flapping:opt<Flapping>};\
Thresholds{warning:Limits,critical:Limits};Limits{above:opt<Limit>,below:opt<Limit>};\
Limit{raise:Bound,clear:opt<Bound>};Bound{value:f32,inclusive:bool};\
Predictive{threshold:f32,crossing:Crossing,warning:opt<Horizon>,critical:opt<Horizon>,policy:EtaPolicy};\
Horizon{within_ms:u32,clear_beyond_ms:u32};EtaPolicy{min_samples:u32,min_t_statistic:f32,confidence_z:f32};\
AnomalyLevels{warning:opt<Limit>,critical:opt<Limit>};Health{stuck:bool,out_of_range:bool,slew:bool};\
Debounce{samples:u8,of_last:u8,for_ms:u32};\
MissingData{deadline_ms:opt<u32>,policy:MissingPolicy,startup_grace_ms:u32};\
MissingPolicy{Unknown,HoldLast{for_ms:u32},Violation{level:Level},Ok};\
Flapping{low_percent:f32,high_percent:f32};\
AnomalyConfig{baseline_alpha:f32,warmup_samples:u16,z_low:f32,fast_alpha:f32,cusum_k:f32,cusum_h:f32,\
spike_low:f32,stuck_samples:u16,stuck_ratio:f32,stuck_epsilon:f32,stuck_from_start:bool,min_std:f32,\
min:opt<f32>,max:opt<f32>,max_slew_per_s:opt<f32>}";

/// FNV-1a (64-bit) of [`SCHEMA_STRING`]: a node and a host agree on the wire types when they agree on
/// this number. A node announces it in its [`Hello`](super::Hello).
pub const SCHEMA_HASH: u64 = crate::hash::fnv1a64(SCHEMA_STRING.as_bytes());

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::field;

    /// The schema's `header{...}` names the fields and their types; their widths, laid end to end,
    /// must be the offsets the parser and the writer use.
    #[test]
    fn the_header_description_follows_the_field_offsets() {
        let start = SCHEMA_STRING.find("header{").unwrap() + "header{".len();
        let body = &SCHEMA_STRING[start..start + SCHEMA_STRING[start..].find("};").unwrap()];
        let (mut items, mut depth, mut from) = (std::vec::Vec::new(), 0, 0);
        for (i, c) in body.char_indices() {
            match c {
                '[' => depth += 1,
                ']' => depth -= 1,
                ',' if depth == 0 => {
                    items.push(&body[from..i]);
                    from = i + 1;
                }
                _ => {}
            }
        }
        items.push(&body[from..]);
        let mut offset = 0;
        let described: std::vec::Vec<_> = items
            .iter()
            .map(|item| {
                let (name, ty) = item.split_once(':').unwrap();
                let width = match ty.split('[').next().unwrap() {
                    "u8" => 1,
                    "u16le" => 2,
                    "u32le" => 4,
                    other => panic!("unexpected header type {other}"),
                };
                offset += width;
                (name, offset - width..offset)
            })
            .collect();
        assert_eq!(described, field::ALL);
    }

    #[test]
    fn schema_hash_is_pinned() {
        // A change to a wire type must change SCHEMA_STRING and then this value, deliberately, along
        // with docs/wire.md.
        assert_eq!(SCHEMA_HASH, 0x24e9_93dc_5d1c_294e, "{SCHEMA_HASH:#018x}");
    }
}
