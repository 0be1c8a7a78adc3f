//! Reading the per-request samples of `individual_requests` compactly, for the confidence
//! intervals of `compare` ([`crate::significance`]): only `time_to_first_token`,
//! `total_latency` and `token_latencies` of each request are kept (converted from seconds to
//! milliseconds, the unit of the headline metrics); every other field is skipped without being
//! built. Non-finite or null values are dropped (a request without content has no TTFT).

use std::fmt;

use serde::de::{DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde::Deserialize;

use crate::significance::Grouped;

/// Visitor methods that accept any scalar (number, string, bool, null) and keep nothing: a
/// value of an unexpected type is skipped, as the reader skips what it does not need.
macro_rules! skip_scalars {
    () => {
        fn visit_unit<E>(self) -> Result<(), E> {
            Ok(())
        }
        fn visit_str<E>(self, _: &str) -> Result<(), E> {
            Ok(())
        }
        fn visit_f64<E>(self, _: f64) -> Result<(), E> {
            Ok(())
        }
        fn visit_u64<E>(self, _: u64) -> Result<(), E> {
            Ok(())
        }
        fn visit_i64<E>(self, _: i64) -> Result<(), E> {
            Ok(())
        }
        fn visit_bool<E>(self, _: bool) -> Result<(), E> {
            Ok(())
        }
    };
}

/// The three sample kinds of one run, grouped by request.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct RawSamples {
    pub ttft: Grouped,
    pub total: Grouped,
    pub gaps: Grouped,
}

impl<'de> Deserialize<'de> for RawSamples {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let mut s = RawSamples {
            ttft: Grouped::new(),
            total: Grouped::new(),
            gaps: Grouped::new(),
        };
        d.deserialize_any(RequestsVisitor(&mut s))?;
        Ok(s)
    }
}

/// A number, or Python's non-finite literal (rewritten to a string by the reader), or null:
/// `None` unless finite.
struct Num(Option<f64>);

impl<'de> Deserialize<'de> for Num {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Num;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a number")
            }
            fn visit_f64<E>(self, v: f64) -> Result<Num, E> {
                Ok(Num(Some(v).filter(|x| x.is_finite())))
            }
            fn visit_u64<E>(self, v: u64) -> Result<Num, E> {
                Ok(Num(Some(v as f64)))
            }
            fn visit_i64<E>(self, v: i64) -> Result<Num, E> {
                Ok(Num(Some(v as f64)))
            }
            fn visit_str<E>(self, _: &str) -> Result<Num, E> {
                Ok(Num(None))
            }
            fn visit_unit<E>(self) -> Result<Num, E> {
                Ok(Num(None))
            }
            fn visit_none<E>(self) -> Result<Num, E> {
                Ok(Num(None))
            }
            fn visit_bool<E>(self, _: bool) -> Result<Num, E> {
                Ok(Num(None))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut a: A) -> Result<Num, A::Error> {
                while a.next_element::<IgnoredAny>()?.is_some() {}
                Ok(Num(None))
            }
            fn visit_map<A: MapAccess<'de>>(self, mut a: A) -> Result<Num, A::Error> {
                while a.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
                Ok(Num(None))
            }
        }
        d.deserialize_any(V)
    }
}

fn ms(v: Num) -> Option<f64> {
    v.0.map(|s| s * 1000.0).filter(|x| x.is_finite())
}

/// `individual_requests`: anything but an array leaves the samples empty.
struct RequestsVisitor<'a>(&'a mut RawSamples);

impl<'de> Visitor<'de> for RequestsVisitor<'_> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a list of requests")
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut a: A) -> Result<(), A::Error> {
        while a.next_element_seed(RequestSeed(&mut *self.0))?.is_some() {}
        Ok(())
    }
    fn visit_map<A: MapAccess<'de>>(self, mut a: A) -> Result<(), A::Error> {
        while a.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
        Ok(())
    }
    skip_scalars!();
}

#[derive(Deserialize)]
#[serde(field_identifier, rename_all = "snake_case")]
enum Field {
    TimeToFirstToken,
    TotalLatency,
    TokenLatencies,
    #[serde(other)]
    Other,
}

/// One request object: its three sample kinds are appended (a non-object element is skipped
/// and adds no request).
struct RequestSeed<'a>(&'a mut RawSamples);

impl<'de> DeserializeSeed<'de> for RequestSeed<'_> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for RequestSeed<'_> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a request object")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut a: A) -> Result<(), A::Error> {
        let s = self.0;
        let (mut ttft, mut total) = (None, None);
        let mut seen_gaps = false;
        while let Some(k) = a.next_key::<Field>()? {
            match k {
                Field::TimeToFirstToken => ttft = ms(a.next_value()?),
                Field::TotalLatency => total = ms(a.next_value()?),
                Field::TokenLatencies if !seen_gaps => {
                    seen_gaps = true;
                    a.next_value_seed(GapsSeed(&mut s.gaps.values))?;
                }
                _ => {
                    a.next_value::<IgnoredAny>()?;
                }
            }
        }
        s.ttft.values.extend(ttft);
        s.ttft.end_request();
        s.total.values.extend(total);
        s.total.end_request();
        s.gaps.end_request();
        Ok(())
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut a: A) -> Result<(), A::Error> {
        while a.next_element::<IgnoredAny>()?.is_some() {}
        Ok(())
    }
    skip_scalars!();
}

/// `token_latencies`: finite values appended in ms.
struct GapsSeed<'a>(&'a mut Vec<f64>);

impl<'de> DeserializeSeed<'de> for GapsSeed<'_> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for GapsSeed<'_> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a list of gaps")
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut a: A) -> Result<(), A::Error> {
        while let Some(v) = a.next_element::<Num>()? {
            self.0.extend(ms(v));
        }
        Ok(())
    }
    fn visit_map<A: MapAccess<'de>>(self, mut a: A) -> Result<(), A::Error> {
        while a.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
        Ok(())
    }
    skip_scalars!();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_only_the_three_fields_in_ms_and_drops_non_finite_values() {
        let json = r#"[{"request_id": "a", "prompt": "x", "time_to_first_token": 0.5,
              "total_latency": 2, "token_latencies": [0.25, "NaN", null, 0.5], "extra": {"a": [1]}},
            {"time_to_first_token": null, "total_latency": 1.5, "token_latencies": []},
            7,
            {"total_latency": 3.0}]"#;
        let s: RawSamples = serde_json::from_str(json).unwrap();
        assert_eq!(s.ttft.values, vec![500.0]);
        assert_eq!(s.ttft.offsets, vec![0, 1, 1, 1]);
        assert_eq!(s.total.values, vec![2000.0, 1500.0, 3000.0]);
        assert_eq!(s.gaps.values, vec![250.0, 500.0]);
        assert_eq!(s.gaps.offsets, vec![0, 2, 2, 2]);
        let s: RawSamples = serde_json::from_str("null").unwrap();
        assert_eq!(s.total.requests(), 0);
    }
}
