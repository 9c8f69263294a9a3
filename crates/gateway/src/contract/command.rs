//! Command results: `{"id":..,"status":..,..,"time":..}` on the result topic
//! (docs/gateway.md, `.../command/result`).

use serde::Serialize;

use super::now_rfc3339;
use crate::model::Message;

/// The outcome of a command, serialised lowercase.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum CommandStatus {
    /// The execute's positive ActCon.
    Confirmed,
    /// The execute's ActTerm.
    Terminated,
    /// Refused: by the configuration, a busy or stopped session, or the RTU (negative ActCon).
    Rejected,
    /// A confirmation did not come within `gateway.command_timeout`.
    Timeout,
    /// The command is malformed or names an unknown RTU or point.
    Invalid,
}

impl CommandStatus {
    /// The lowercase name.
    pub fn as_str(self) -> &'static str {
        match self {
            CommandStatus::Confirmed => "confirmed",
            CommandStatus::Terminated => "terminated",
            CommandStatus::Rejected => "rejected",
            CommandStatus::Timeout => "timeout",
            CommandStatus::Invalid => "invalid",
        }
    }
}

/// The outcome reported to the Sparkplug edge node of a command written by a host, for the
/// same result the JSON command topic would get: confirmed and terminated as they are; the
/// RTU's negative ACTCON as `rejected`; a refusal by the gateway with its reason; a timeout
/// with its reason; an invalid command as failed.
pub fn sparkplug_outcome(
    status: CommandStatus,
    detail: &ResultDetail,
) -> iec104_sparkplug::edge::CommandOutcome {
    use iec104_sparkplug::edge::CommandOutcome as O;
    let reason = || {
        detail
            .error
            .clone()
            .unwrap_or_else(|| status.as_str().to_owned())
    };
    match status {
        CommandStatus::Confirmed => O::Confirmed,
        CommandStatus::Terminated => O::Terminated,
        CommandStatus::Rejected if detail.negative == Some(true) => O::Rejected,
        CommandStatus::Rejected => O::Refused(reason()),
        CommandStatus::Timeout => O::TimedOut(reason()),
        CommandStatus::Invalid => O::Failed(reason()),
    }
}

/// What the RTU's answer (or its absence) tells, where it applies.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct ResultDetail {
    /// Type of the command ASDU (`C_DC_NA_1`, ...).
    #[serde(rename = "type", skip_serializing_if = "Option::is_none")]
    pub type_name: Option<&'static str>,
    /// `select` or `execute`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stage: Option<&'static str>,
    /// Cause of transmission of the answer (`actcon`, ...).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cause: Option<std::borrow::Cow<'static, str>>,
    /// Its number.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cause_code: Option<u8>,
    /// P/N = 1 or a negative cause.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub negative: Option<bool>,
    /// Why the command failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Why the MQTT 5 response topic of the command was not used (the result went to
    /// `.../command/result` instead).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub response_topic_refused: Option<String>,
}

impl ResultDetail {
    /// Only an error text.
    pub fn error(text: impl Into<String>) -> ResultDetail {
        ResultDetail {
            error: Some(text.into()),
            ..ResultDetail::default()
        }
    }
}

/// The point a result is about.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ResultPoint<'a> {
    /// RTU name.
    pub rtu: &'a str,
    /// Common address.
    pub ca: u16,
    /// Information object address.
    pub ioa: u32,
}

/// The JSON of a command result.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CommandResult<'a> {
    /// The request's `id` (null when it had none).
    pub id: Option<&'a str>,
    /// The outcome.
    pub status: CommandStatus,
    /// The point, once the topic named a known one.
    #[serde(flatten)]
    pub point: Option<ResultPoint<'a>>,
    /// The details.
    #[serde(flatten)]
    pub detail: ResultDetail,
    /// RFC 3339 time of the result (milliseconds, UTC).
    pub time: String,
}

impl<'a> CommandResult<'a> {
    /// A result stamped now.
    pub fn new(
        id: Option<&'a str>,
        status: CommandStatus,
        point: Option<ResultPoint<'a>>,
        detail: ResultDetail,
    ) -> CommandResult<'a> {
        CommandResult {
            id,
            status,
            point,
            detail,
            time: now_rfc3339(),
        }
    }

    /// The JSON text.
    pub fn to_json(&self) -> Vec<u8> {
        serde_json::to_vec(self).unwrap_or_default()
    }

    /// The message on `topic` (QoS 1, not retained).
    pub fn message(&self, topic: &str) -> Message {
        Message {
            topic: topic.to_owned(),
            payload: self.to_json(),
            qos: 1,
            retain: false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stamped(mut r: CommandResult<'_>) -> String {
        r.time = "2026-11-24T10:00:00.000Z".into();
        String::from_utf8(r.to_json()).unwrap()
    }

    #[test]
    fn sparkplug_outcomes_keep_the_reason() {
        use iec104_sparkplug::edge::CommandOutcome as O;
        let why = ResultDetail::error("value 20 is above the point's max 10");
        let negative = ResultDetail {
            negative: Some(true),
            ..ResultDetail::error("refused by the RTU: cause 7 actcon, P/N=1")
        };
        for (status, detail, want) in [
            (CommandStatus::Confirmed, &negative, O::Confirmed),
            (CommandStatus::Terminated, &why, O::Terminated),
            (CommandStatus::Rejected, &negative, O::Rejected),
            (
                CommandStatus::Rejected,
                &why,
                O::Refused("value 20 is above the point's max 10".into()),
            ),
            (
                CommandStatus::Timeout,
                &why,
                O::TimedOut("value 20 is above the point's max 10".into()),
            ),
            (
                CommandStatus::Invalid,
                &ResultDetail::default(),
                O::Failed("invalid".into()),
            ),
        ] {
            assert_eq!(sparkplug_outcome(status, detail), want, "{status:?}");
        }
    }

    #[test]
    fn statuses_are_lowercase() {
        for (s, text) in [
            (CommandStatus::Confirmed, "confirmed"),
            (CommandStatus::Terminated, "terminated"),
            (CommandStatus::Rejected, "rejected"),
            (CommandStatus::Timeout, "timeout"),
            (CommandStatus::Invalid, "invalid"),
        ] {
            assert_eq!(serde_json::to_string(&s).unwrap(), format!("\"{text}\""));
            assert_eq!(s.as_str(), text);
        }
    }

    #[test]
    fn invalid_without_id_or_point() {
        let r = CommandResult::new(
            None,
            CommandStatus::Invalid,
            None,
            ResultDetail::error("payload is not JSON"),
        );
        assert_eq!(
            stamped(r),
            r#"{"id":null,"status":"invalid","error":"payload is not JSON","time":"2026-11-24T10:00:00.000Z"}"#
        );
    }

    #[test]
    fn confirmed_with_cause() {
        let r = CommandResult::new(
            Some("op-17"),
            CommandStatus::Confirmed,
            Some(ResultPoint {
                rtu: "sub1",
                ca: 1,
                ioa: 100,
            }),
            ResultDetail {
                type_name: Some("C_DC_NA_1"),
                stage: Some("execute"),
                cause: Some("actcon".into()),
                cause_code: Some(7),
                ..ResultDetail::default()
            },
        );
        assert_eq!(
            stamped(r),
            r#"{"id":"op-17","status":"confirmed","rtu":"sub1","ca":1,"ioa":100,"type":"C_DC_NA_1","stage":"execute","cause":"actcon","cause_code":7,"time":"2026-11-24T10:00:00.000Z"}"#
        );
    }

    #[test]
    fn rejected_negative() {
        let r = CommandResult::new(
            Some("op-18"),
            CommandStatus::Rejected,
            Some(ResultPoint {
                rtu: "sub1",
                ca: 1,
                ioa: 100,
            }),
            ResultDetail {
                negative: Some(true),
                error: Some("refused by the RTU: cause 7 actcon, P/N=1".into()),
                ..ResultDetail::default()
            },
        );
        assert_eq!(
            stamped(r),
            r#"{"id":"op-18","status":"rejected","rtu":"sub1","ca":1,"ioa":100,"negative":true,"error":"refused by the RTU: cause 7 actcon, P/N=1","time":"2026-11-24T10:00:00.000Z"}"#
        );
    }
}
