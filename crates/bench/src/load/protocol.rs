//! The Phoenix channel frames a realtime-js client sends and the few fields
//! the load harness reads back, as pure functions: frames in, values out, no
//! I/O. Every frame is a vsn 2.0.0 array `[join_ref, ref, topic, event,
//! payload]`.
//!
//! Reading is deliberately shallow: a load process handles tens of thousands
//! of frames per second on a core it shares with the server, so it splits
//! the array without building a JSON tree and finds `record.created_at` by
//! searching the payload text.

use std::time::{SystemTime, UNIX_EPOCH};

use serde_json::value::RawValue;

/// The development secret every benchmark signs its tokens with (never a
/// production secret: the gateway under test is a throwaway).
pub const DEV_JWT_SECRET: &str = "walcast-dev-secret-not-for-production-use";

/// realtime-js's heartbeat period (`heartbeatIntervalMs`).
pub const HEARTBEAT_SECONDS: u64 = 25;

/// An HS256 token with claims `{role, exp}`, valid for `ttl_seconds`.
pub fn sign_token(secret: &str, role: &str, ttl_seconds: u64) -> anyhow::Result<String> {
    let exp = unix_micros_now() / 1_000_000 + i64::try_from(ttl_seconds)?;
    sign_claims(secret, &serde_json::json!({"role": role, "exp": exp}))
}

/// An HS256 token for a chat agent: `{role: "agent", sub, tenant_id, exp}`,
/// what `config/walcast.toml`'s routes and row policies read.
pub fn sign_agent_token(
    secret: &str,
    sub: &str,
    tenant_id: &str,
    ttl_seconds: u64,
) -> anyhow::Result<String> {
    let exp = unix_micros_now() / 1_000_000 + i64::try_from(ttl_seconds)?;
    sign_claims(
        secret,
        &serde_json::json!({"role": "agent", "sub": sub, "tenant_id": tenant_id, "exp": exp}),
    )
}

/// `claims` as an HS256 token signed with `secret`.
fn sign_claims(secret: &str, claims: &serde_json::Value) -> anyhow::Result<String> {
    let key = jsonwebtoken::EncodingKey::from_secret(secret.as_bytes());
    Ok(jsonwebtoken::encode(
        &jsonwebtoken::Header::default(),
        claims,
        &key,
    )?)
}

/// The id of conversation `n` in the benchmarks' data: deterministic, so
/// that writer and load processes agree without passing 1,000 ids around.
pub fn conversation_uuid(n: u32) -> String {
    format!("00000000-0000-4000-8000-{n:012}")
}

/// realtime-js's `phx_join` for one `postgres_changes` binding on
/// `public.messages` with `filter`, broadcast and presence off.
pub fn join_frame(join_ref: &str, topic: &str, filter: &str, token: &str) -> String {
    join_frame_on("public", join_ref, topic, filter, token)
}

/// [`join_frame`] for `<schema>.messages`.
pub fn join_frame_on(
    schema: &str,
    join_ref: &str,
    topic: &str,
    filter: &str,
    token: &str,
) -> String {
    serde_json::json!([join_ref, join_ref, topic, "phx_join", {
        "config": {
            "broadcast": {"ack": false, "self": false},
            "presence": {"enabled": false, "key": ""},
            "postgres_changes": [{"event": "*", "schema": schema, "table": "messages", "filter": filter}],
            "private": false
        },
        "access_token": token
    }])
    .to_string()
}

/// realtime-js's `phx_leave` of a joined channel.
pub fn leave_frame(join_ref: &str, reference: &str, topic: &str) -> String {
    serde_json::json!([join_ref, reference, topic, "phx_leave", {}]).to_string()
}

/// realtime-js's heartbeat on topic `phoenix`.
pub fn heartbeat_frame(reference: u64) -> String {
    format!(r#"[null,"{reference}","phoenix","heartbeat",{{}}]"#)
}

/// The five parts of a frame, borrowed from its text.
#[derive(Debug)]
pub struct Frame<'a> {
    /// `join_ref`, `null` on fan-out frames.
    pub join_ref: Option<&'a str>,
    /// `ref`, `null` on pushes the client did not ask for.
    pub reference: Option<&'a str>,
    /// The channel topic.
    pub topic: &'a str,
    /// `phx_reply`, `postgres_changes`, `system`, …
    pub event: &'a str,
    /// The payload, unparsed.
    pub payload: &'a RawValue,
}

/// Splits a vsn 2.0.0 frame; `None` for anything else (including strings
/// with escapes in the first four fields, which no server here sends).
pub fn parse_frame(text: &str) -> Option<Frame<'_>> {
    type Parts<'a> = (
        Option<&'a str>,
        Option<&'a str>,
        &'a str,
        &'a str,
        &'a RawValue,
    );
    let (join_ref, reference, topic, event, payload): Parts<'_> =
        serde_json::from_str(text).ok()?;
    Some(Frame {
        join_ref,
        reference,
        topic,
        event,
        payload,
    })
}

impl Frame<'_> {
    /// A `phx_reply` with `"status":"ok"`.
    pub fn is_ok_reply(&self) -> bool {
        self.event == "phx_reply" && status_is_ok(self.payload.get())
    }

    /// A `phx_reply` with any other status.
    pub fn is_error_reply(&self) -> bool {
        self.event == "phx_reply" && !status_is_ok(self.payload.get())
    }
}

/// `{"status":"ok",…}`: the status key comes first in every reply walcast
/// and the ack server send; a later one is found too.
fn status_is_ok(payload: &str) -> bool {
    payload.contains(r#""status":"ok""#)
}

/// `record.created_at` of a `postgres_changes` payload, in microseconds
/// since the Unix epoch.
pub fn record_created_at(payload: &str) -> Option<i64> {
    const RECORD: &str = r#""record":{"#;
    const CREATED_AT: &str = r#""created_at":""#;
    let record = &payload[payload.find(RECORD)? + RECORD.len()..];
    let value = &record[record.find(CREATED_AT)? + CREATED_AT.len()..];
    parse_timestamp(&value[..value.find('"')?])
}

/// A timestamp as PostgreSQL prints it (`2025-11-03 09:32:55.123456+00`,
/// wal2json) or as `to_jsonb` does (`2025-11-03T09:32:55.123456+00:00`,
/// walcast), in microseconds since the Unix epoch. A `Z` suffix means UTC.
pub fn parse_timestamp(text: &str) -> Option<i64> {
    let bytes = text.as_bytes();
    if bytes.len() < 19 || !matches!(bytes[10], b'T' | b' ') {
        return None;
    }
    let year = number(&text[0..4])?;
    let month = number(&text[5..7])?;
    let day = number(&text[8..10])?;
    let hour = number(&text[11..13])?;
    let minute = number(&text[14..16])?;
    let second = number(&text[17..19])?;
    if [bytes[4], bytes[7], bytes[13], bytes[16]] != [b'-', b'-', b':', b':'] {
        return None;
    }
    let mut rest = &text[19..];
    let mut micros = 0;
    if let Some(fraction) = rest.strip_prefix('.') {
        let digits = fraction.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 || digits > 6 {
            return None;
        }
        micros = number(&fraction[..digits])? * 10_i64.pow(6 - digits as u32);
        rest = &fraction[digits..];
    }
    let offset_seconds = match rest.as_bytes().first() {
        None | Some(b'Z') => 0,
        Some(sign @ (b'+' | b'-')) => {
            let hours = number(rest.get(1..3)?)?;
            let minutes = match rest.get(3..) {
                Some("") => 0,
                Some(tail) => number(tail.strip_prefix(':').unwrap_or(tail))?,
                None => return None,
            };
            let offset = hours * 3600 + minutes * 60;
            if *sign == b'-' { -offset } else { offset }
        }
        Some(_) => return None,
    };
    let days = days_from_civil(year, month, day);
    let seconds = days * 86_400 + hour * 3600 + minute * 60 + second - offset_seconds;
    Some(seconds * 1_000_000 + micros)
}

/// Microseconds since the Unix epoch as `to_jsonb` prints a UTC
/// `timestamptz` (`2025-11-03T09:32:55.123456+00:00`), the spelling of
/// walcast's `record.created_at`; [`parse_timestamp`] reads it back.
pub fn format_timestamp(micros: i64) -> String {
    let seconds = micros.div_euclid(1_000_000);
    let fraction = micros.rem_euclid(1_000_000);
    let (year, month, day) = civil_from_days(seconds.div_euclid(86_400));
    let second_of_day = seconds.rem_euclid(86_400);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{fraction:06}+00:00",
        second_of_day / 3600,
        second_of_day / 60 % 60,
        second_of_day % 60
    )
}

/// The inverse of [`days_from_civil`] (Howard Hinnant's `civil_from_days`).
fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let day_of_era = z - era * 146_097;
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let month_index = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * month_index + 2) / 5 + 1;
    let month = if month_index < 10 {
        month_index + 3
    } else {
        month_index - 9
    };
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

fn number(digits: &str) -> Option<i64> {
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's
/// `days_from_civil`).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let year_of_era = year - era * 400;
    let month_index = (month + 9) % 12;
    let day_of_year = (153 * month_index + 2) / 5 + day - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

/// Now, in microseconds since the Unix epoch: the clock PostgreSQL's `now()`
/// reads too, so on one machine the two compare directly.
pub fn unix_micros_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |since| {
            i64::try_from(since.as_micros()).unwrap_or(i64::MAX)
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_in_both_spellings() {
        // 2025-11-03 09:32:55 UTC = 1762162375 s.
        let want = 1_762_162_375_123_456;
        assert_eq!(
            parse_timestamp("2025-11-03T09:32:55.123456+00:00"),
            Some(want)
        );
        assert_eq!(parse_timestamp("2025-11-03 09:32:55.123456+00"), Some(want));
        assert_eq!(parse_timestamp("2025-11-03 11:32:55.123456+02"), Some(want));
        assert_eq!(
            parse_timestamp("2025-11-03T09:02:55.123456-00:30"),
            Some(want)
        );
        assert_eq!(
            parse_timestamp("2025-11-03T09:32:55.123Z"),
            Some(want - 456)
        );
        assert_eq!(parse_timestamp("1970-01-01 00:00:00+00"), Some(0));
        assert_eq!(
            parse_timestamp("2000-03-01T00:00:00Z"),
            Some(951_868_800_000_000)
        );
        for bad in [
            "",
            "2025-11-03",
            "2025-11-03X09:32:55",
            "2025-11-03 09:32:55.+00",
            "2025-11-03 09:32:55#",
        ] {
            assert_eq!(parse_timestamp(bad), None, "{bad}");
        }
    }

    #[test]
    fn formatted_timestamps_read_back() {
        for micros in [
            0,
            1_762_162_375_123_456,
            951_868_800_000_000,
            951_782_399_999_999,
            4_102_444_800_000_001,
        ] {
            let text = format_timestamp(micros);
            assert_eq!(parse_timestamp(&text), Some(micros), "{text}");
        }
        assert_eq!(
            format_timestamp(1_762_162_375_123_456),
            "2025-11-03T09:32:55.123456+00:00"
        );
    }

    #[test]
    fn created_at_comes_from_the_record() {
        let payload = r#"{"ids":[1],"data":{"columns":[{"name":"created_at","type":"timestamptz"}],"record":{"id":"x","created_at":"1970-01-01T00:00:01.5+00:00"},"type":"INSERT"}}"#;
        assert_eq!(record_created_at(payload), Some(1_500_000));
        assert_eq!(record_created_at(r#"{"record":{"id":1}}"#), None);
    }

    #[test]
    fn frames_split_and_replies_read() {
        let frame =
            parse_frame(r#"["1","2","realtime:a","phx_reply",{"status":"ok","response":{}}]"#)
                .expect("a frame");
        assert_eq!((frame.join_ref, frame.reference), (Some("1"), Some("2")));
        assert_eq!((frame.topic, frame.event), ("realtime:a", "phx_reply"));
        assert!(frame.is_ok_reply() && !frame.is_error_reply());
        let push =
            parse_frame(r#"[null,null,"realtime:a","postgres_changes",{}]"#).expect("a push");
        assert_eq!(push.reference, None);
        assert!(!push.is_ok_reply());
        assert!(parse_frame(r#"{"topic":"a"}"#).is_none());
    }

    #[test]
    fn joins_look_like_realtime_js() {
        let join = join_frame("3", "realtime:c", "conversation_id=eq.x", "t");
        let frame = parse_frame(&join).expect("a frame");
        assert_eq!(frame.event, "phx_join");
        let payload: serde_json::Value = serde_json::from_str(frame.payload.get()).expect("json");
        assert_eq!(
            payload["config"]["postgres_changes"][0]["filter"],
            "conversation_id=eq.x"
        );
        assert_eq!(payload["access_token"], "t");
        assert_eq!(conversation_uuid(7), "00000000-0000-4000-8000-000000000007");
        assert!(parse_frame(&heartbeat_frame(9)).is_some());
    }
}
