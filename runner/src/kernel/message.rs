//! Incoming kernel messages, kept as the JSON the kernel sent: outputs are stored in the notebook
//! exactly as they arrive, so nothing goes through a typed model that could drop or reorder fields.

use jupyter_zmq_client::RawMessage;
use serde::Deserialize;
use serde_json::Value;

/// One message from IOPub or a reply from the shell or control channel.
#[derive(Debug, Clone)]
pub struct Message {
    pub msg_type: String,
    pub msg_id: String,
    /// The `msg_id` of the request this message answers or was produced by.
    pub parent_msg_id: Option<String>,
    /// The kernel's ISO 8601 timestamp from the header, when it sent one.
    pub date: Option<String>,
    pub content: Value,
}

#[derive(Deserialize)]
struct Header {
    msg_id: String,
    msg_type: String,
    #[serde(default)]
    date: Option<String>,
}

#[derive(Deserialize)]
struct ParentHeader {
    #[serde(default)]
    msg_id: Option<String>,
}

#[derive(Debug, thiserror::Error)]
#[error("malformed {part} frame: {source}")]
pub struct MessageError {
    part: &'static str,
    source: serde_json::Error,
}

impl Message {
    /// Decodes the four JSON frames of a signature-checked wire message.
    pub fn from_raw(raw: &RawMessage) -> Result<Self, MessageError> {
        let frame = |i: usize| raw.jparts.get(i).map(|b| b.as_ref()).unwrap_or(b"{}");
        let header: Header = serde_json::from_slice(frame(0)).map_err(|source| MessageError { part: "header", source })?;
        let parent: ParentHeader = serde_json::from_slice(frame(1)).map_err(|source| MessageError { part: "parent_header", source })?;
        let content: Value = serde_json::from_slice(frame(3)).map_err(|source| MessageError { part: "content", source })?;
        Ok(Self { msg_type: header.msg_type, msg_id: header.msg_id, parent_msg_id: parent.msg_id, date: header.date, content })
    }

    pub fn is_reply_to(&self, request_id: &str) -> bool {
        self.parent_msg_id.as_deref() == Some(request_id)
    }

    /// `status` messages carry `busy`, `idle` or `starting`.
    pub fn execution_state(&self) -> Option<&str> {
        (self.msg_type == "status").then(|| self.content.get("execution_state").and_then(Value::as_str)).flatten()
    }
}
