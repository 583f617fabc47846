//! E-mail through the SMTP server of `[notify]`: plain SMTP for a relay on loopback, STARTTLS or
//! implicit TLS (rustls, with the web PKI roots and the private CA of `smtp_ca_file`) for a real
//! server, and AUTH when configured.

use std::time::Duration;

use lettre::message::Mailbox;
use lettre::message::header::ContentType;
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client;
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
    let plain = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(&smtp.host);
    let builder = match smtp.tls {
        Tls::None => plain,
        Tls::StartTls => plain.tls(client::Tls::Required(tls_parameters(smtp)?)),
        Tls::Implicit => plain.tls(client::Tls::Wrapper(tls_parameters(smtp)?)),
    };
    let mut builder = builder.port(smtp.port).timeout(Some(SMTP_TIMEOUT));
    if let Some(login) = &smtp.login {
        let password = login.password.read().map_err(SendError::Permanent)?;
        builder = builder.credentials(Credentials::new(login.username.clone(), password));
    }
    builder.build().send(email).await.map_err(|e| failed(smtp, &e))?;
    Ok(())
}

/// The server's certificate is checked against the public roots and `smtp_ca_file`'s CA.
fn tls_parameters(smtp: &Smtp) -> Result<client::TlsParameters, SendError> {
    let mut builder = client::TlsParameters::builder(smtp.host.clone());
    if let Some(pem) = &smtp.ca_pem {
        let ca = client::Certificate::from_pem(pem).map_err(|e| failed(smtp, &e))?;
        builder = builder.add_root_certificate(ca);
    }
    builder.build().map_err(|e| failed(smtp, &e))
}

/// A rejection by the server (5xx) is permanent: trying again gets the same answer.
fn failed(smtp: &Smtp, error: &lettre::transport::smtp::Error) -> SendError {
    let message = format!("SMTP {}:{}: {error}", smtp.host, smtp.port);
    if error.is_permanent() { SendError::Permanent(message) } else { SendError::Transient(message) }
}
