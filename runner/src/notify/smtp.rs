//! E-mail through the SMTP server of `[notify]`: plain SMTP for a relay on loopback, STARTTLS or
//! implicit TLS (rustls, with the web PKI roots) for a real server, and AUTH when configured.

use std::time::Duration;

use lettre::message::Mailbox;
use lettre::message::header::ContentType;
use lettre::transport::smtp::authentication::Credentials;
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};

use super::delivery::SendError;
use super::render;
use super::settings::{Smtp, Tls};

/// How long one SMTP conversation may take (connect, greeting, each command).
const SMTP_TIMEOUT: Duration = Duration::from_secs(30);

/// Sends `message` to `to`, once.
pub async fn send(smtp: Option<&Smtp>, to: &str, message: &render::Message) -> Result<(), SendError> {
    let smtp = smtp.ok_or_else(SendError::no_smtp)?;
    let recipient: Mailbox =
        to.parse().map_err(|e: lettre::address::AddressError| SendError::Permanent(format!("`{to}` is not an e-mail address: {e}")))?;
    let email = Message::builder()
        .from(smtp.from.clone())
        .to(recipient)
        .subject(&message.subject)
        .header(ContentType::TEXT_PLAIN)
        .body(message.text.clone())
        .map_err(|e| SendError::Permanent(format!("cannot build the e-mail: {e}")))?;
    let builder = match smtp.tls {
        Tls::None => AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(&smtp.host),
        Tls::StartTls => AsyncSmtpTransport::<Tokio1Executor>::starttls_relay(&smtp.host).map_err(|e| failed(smtp, &e))?,
        Tls::Implicit => AsyncSmtpTransport::<Tokio1Executor>::relay(&smtp.host).map_err(|e| failed(smtp, &e))?,
    };
    let mut builder = builder.port(smtp.port).timeout(Some(SMTP_TIMEOUT));
    if let Some(login) = &smtp.login {
        let password = login.password.read().map_err(SendError::Permanent)?;
        builder = builder.credentials(Credentials::new(login.username.clone(), password));
    }
    builder.build().send(email).await.map_err(|e| failed(smtp, &e))?;
    Ok(())
}

/// A rejection by the server (5xx) is permanent: trying again gets the same answer.
fn failed(smtp: &Smtp, error: &lettre::transport::smtp::Error) -> SendError {
    let message = format!("SMTP {}:{}: {error}", smtp.host, smtp.port);
    if error.is_permanent() { SendError::Permanent(message) } else { SendError::Transient(message) }
}
