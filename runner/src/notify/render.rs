//! A notice as people read it: a subject line, a plain-text body for e-mail, and Slack "mrkdwn"
//! section blocks for webhooks (Slack, Mattermost and Rocket.Chat read the same shape). Tracebacks
//! lose their ANSI colour codes, and long sources and tracebacks are cut so a message stays
//! readable (and under Slack's 3000 characters per section).

use std::time::Duration;

use serde_json::{Value, json};

use super::notice::Notice;
use crate::schedule::spec::Event;

/// The first lines of the failing cell's source that are shown.
const SOURCE_LINES: usize = 8;
const SOURCE_CHARS: usize = 800;
/// The last lines of the traceback that are shown (the end is where the error is).
const TRACEBACK_LINES: usize = 30;
const TRACEBACK_CHARS: usize = 2000;
const ERROR_CHARS: usize = 500;

#[derive(Debug, Clone, PartialEq)]
pub struct Message {
    pub subject: String,
    /// The e-mail body.
    pub text: String,
    /// The webhook body: `{"text": ..., "blocks": [...]}`.
    pub webhook: Value,
}

/// The message of `notice` for `event`; `link` is the URL of the run, when one is configured.
pub fn render(notice: &Notice, event: Event, link: Option<&str>) -> Message {
    let what = match event {
        Event::Failure => "failed".to_owned(),
        Event::Success => "succeeded".to_owned(),
        Event::Slow => format!("is slow: {} so far", duration(notice.duration)),
    };
    let subject = format!("[tiffin] {} {what} (run {} attempt {})", notice.schedule, notice.logical_date, notice.attempt);
    let source = notice.failing_cell.as_ref().map(|cell| (cell.cell, first_lines(&cell.source, SOURCE_LINES, SOURCE_CHARS)));
    let error = notice.failing_cell.as_ref().and_then(|cell| cell.error.as_ref()).map(|error| {
        let heading = cut_end(&strip_ansi(&format!("{}: {}", error.ename, error.evalue)), ERROR_CHARS);
        (heading, last_lines(&strip_ansi(&error.traceback.join("\n")), TRACEBACK_LINES, TRACEBACK_CHARS))
    });

    let mut text = format!(
        "{} {what}.\n\nSchedule:     {}\nRun:          {}\nLogical date: {}\nAttempt:      {}\nStatus:       {}\nDuration:     {}\n",
        notice.schedule,
        notice.schedule,
        notice.run_id,
        notice.logical_date,
        notice.attempt,
        notice.status,
        duration(notice.duration)
    );
    if let Some(link) = link {
        text.push_str(&format!("Link:         {link}\n"));
    }
    if let Some(message) = &notice.message {
        text.push_str(&format!("\n{}\n", strip_ansi(message)));
    }
    if let Some((cell, source)) = &source {
        text.push_str(&format!("\nFailing cell: {cell}\n{}\n", indent(source)));
    }
    if let Some((heading, traceback)) = &error {
        text.push_str(&format!("\nError: {heading}\n"));
        if !traceback.is_empty() {
            text.push_str(&format!("\nTraceback:\n{}\n", indent(traceback)));
        }
    }

    let mut overview = format!(
        "*{} {what}*\nRun `{}` · logical date {} · attempt {} · status *{}* · {}",
        mrkdwn(&notice.schedule),
        mrkdwn(&notice.run_id),
        mrkdwn(&notice.logical_date),
        notice.attempt,
        mrkdwn(&notice.status),
        duration(notice.duration)
    );
    if let Some(link) = link {
        overview.push_str(&format!("\n<{}|Open the run>", mrkdwn(link)));
    }
    let mut sections = vec![overview];
    if let Some(message) = &notice.message {
        sections.push(mrkdwn(&cut_end(&strip_ansi(message), ERROR_CHARS)));
    }
    if let Some((cell, source)) = &source {
        sections.push(format!("*Failing cell {cell}*\n{}", code_block(source)));
    }
    if let Some((heading, traceback)) = &error {
        let mut section = format!("*{}*", mrkdwn(heading));
        if !traceback.is_empty() {
            section.push_str(&format!("\n{}", code_block(traceback)));
        }
        sections.push(section);
    }
    let blocks: Vec<Value> = sections.iter().map(|text| json!({"type": "section", "text": {"type": "mrkdwn", "text": text}})).collect();
    // `text` is what notifications and clients without blocks show.
    let webhook = json!({"text": mrkdwn(&subject), "blocks": blocks});
    Message { subject, text, webhook }
}

/// `text` without ANSI escape sequences (CSI colour codes, OSC titles and links, two-byte escapes).
pub fn strip_ansi(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '\u{1b}' {
            out.push(c);
            continue;
        }
        match chars.next() {
            // CSI: parameters and intermediates, then one final byte in @..~.
            Some('[') => {
                for c in chars.by_ref() {
                    if ('@'..='~').contains(&c) {
                        break;
                    }
                }
            }
            // OSC: up to BEL or ESC \.
            Some(']') => {
                while let Some(c) = chars.next() {
                    if c == '\u{7}' {
                        break;
                    }
                    if c == '\u{1b}' && chars.peek() == Some(&'\\') {
                        chars.next();
                        break;
                    }
                }
            }
            _ => {}
        }
    }
    out
}

/// The first `lines` lines of `text`, at most `chars` characters, saying what was left out.
fn first_lines(text: &str, lines: usize, chars: usize) -> String {
    let all: Vec<&str> = text.trim_end().lines().collect();
    let mut kept = cut_end(&all.iter().take(lines).copied().collect::<Vec<_>>().join("\n"), chars);
    if all.len() > lines {
        kept.push_str(&format!("\n… ({} more lines)", all.len() - lines));
    }
    kept
}

/// The last `lines` lines of `text`, at most `chars` characters, saying what was left out.
fn last_lines(text: &str, lines: usize, chars: usize) -> String {
    let all: Vec<&str> = text.trim_end().lines().collect();
    let skipped = all.len().saturating_sub(lines);
    let kept = all[skipped..].join("\n");
    let count = kept.chars().count();
    let kept = if count > chars { format!("…{}", kept.chars().skip(count - chars + 1).collect::<String>()) } else { kept };
    if skipped > 0 { format!("… ({skipped} earlier lines)\n{kept}") } else { kept }
}

/// At most `chars` characters of `text`, ending with … when cut.
fn cut_end(text: &str, chars: usize) -> String {
    if text.chars().count() <= chars {
        return text.to_owned();
    }
    let mut cut: String = text.chars().take(chars.saturating_sub(1)).collect();
    cut.push('…');
    cut
}

fn indent(text: &str) -> String {
    text.lines().map(|line| if line.is_empty() { String::new() } else { format!("    {line}") }).collect::<Vec<_>>().join("\n")
}

/// Slack's three control characters escaped, as its message formatting asks.
fn mrkdwn(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;")
}

fn code_block(text: &str) -> String {
    // A ``` inside would end the block early.
    format!("```\n{}\n```", mrkdwn(text).replace("```", "`\u{200b}``"))
}

/// `4.2s`, `3m 05s`, `1h 02m 03s`.
fn duration(duration: Duration) -> String {
    let seconds = duration.as_secs();
    match seconds {
        0..60 => format!("{:.1}s", duration.as_secs_f64()),
        60..3600 => format!("{}m {:02}s", seconds / 60, seconds % 60),
        _ => format!("{}h {:02}m {:02}s", seconds / 3600, seconds % 3600 / 60, seconds % 60),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::notify::notice::{CellError, FailingCell};

    fn notice() -> Notice {
        Notice {
            schedule: "daily-sales".into(),
            run_id: "0b7c".into(),
            logical_date: "2026-11-27T06:00".into(),
            attempt: 2,
            status: "failed".into(),
            message: Some("cell 3 raised ValueError: no rows for <2026-11-27>".into()),
            failing_cell: Some(FailingCell {
                cell: 3,
                source: "df = load()\nraise ValueError('no rows')\n".into(),
                error: Some(CellError {
                    ename: "ValueError".into(),
                    evalue: "no rows for <2026-11-27>".into(),
                    traceback: vec![
                        "\u{1b}[0;31m---------------------------------------------------------------------------\u{1b}[0m".into(),
                        "\u{1b}[0;31mValueError\u{1b}[0m                                Traceback (most recent call last)".into(),
                        "Cell \u{1b}[0;32mIn[3], line 2\u{1b}[0m\n\u{1b}[1;32m----> 2\u{1b}[0m \u{1b}[38;5;28;01mraise\u{1b}[39;00m ValueError".into(),
                        "\u{1b}[0;31mValueError\u{1b}[0m: no rows for <2026-11-27>".into(),
                    ],
                }),
            }),
            duration: Duration::from_secs(65),
        }
    }

    #[test]
    fn ansi_codes_are_stripped() {
        assert_eq!(strip_ansi("\u{1b}[0;31mValueError\u{1b}[0m: x"), "ValueError: x");
        assert_eq!(strip_ansi("\u{1b}[38;5;28;01mraise\u{1b}[39;00m"), "raise");
        assert_eq!(strip_ansi("\u{1b}]8;;http://x\u{1b}\\link\u{1b}]8;;\u{7} ok"), "link ok");
        assert_eq!(strip_ansi("plain ünïcode"), "plain ünïcode");
        assert_eq!(strip_ansi("cut at the end \u{1b}["), "cut at the end ");
    }

    #[test]
    fn the_email_names_the_run_the_cell_and_the_error() {
        let message = render(&notice(), Event::Failure, Some("http://lab/tiffin/runs/0b7c"));
        assert_eq!(message.subject, "[tiffin] daily-sales failed (run 2026-11-27T06:00 attempt 2)");
        for expected in [
            "Run:          0b7c",
            "Attempt:      2",
            "Duration:     1m 05s",
            "Link:         http://lab/tiffin/runs/0b7c",
            "Failing cell: 3\n    df = load()\n    raise ValueError('no rows')",
            "Error: ValueError: no rows for <2026-11-27>",
            "    Cell In[3], line 2\n    ----> 2 raise ValueError",
        ] {
            assert!(message.text.contains(expected), "missing {expected:?} in\n{}", message.text);
        }
        assert!(!message.text.contains('\u{1b}'), "{}", message.text);
    }

    #[test]
    fn the_webhook_body_is_slack_shaped_and_escaped() {
        let message = render(&notice(), Event::Failure, Some("http://lab/runs/0b7c"));
        let blocks = message.webhook["blocks"].as_array().cloned().unwrap_or_default();
        assert_eq!(message.webhook["text"], "[tiffin] daily-sales failed (run 2026-11-27T06:00 attempt 2)");
        assert_eq!(blocks.len(), 4, "overview, message, cell, error: {blocks:#?}");
        assert!(blocks.iter().all(|b| b["type"] == "section" && b["text"]["type"] == "mrkdwn"));
        let texts: Vec<&str> = blocks.iter().filter_map(|b| b["text"]["text"].as_str()).collect();
        assert!(texts[0].starts_with("*daily-sales failed*\nRun `0b7c`") && texts[0].ends_with("<http://lab/runs/0b7c|Open the run>"));
        assert_eq!(texts[1], "cell 3 raised ValueError: no rows for &lt;2026-11-27&gt;");
        assert!(texts[2].starts_with("*Failing cell 3*\n```\ndf = load()"), "{}", texts[2]);
        assert!(texts[3].starts_with("*ValueError: no rows for &lt;2026-11-27&gt;*\n```\n---"), "{}", texts[3]);
    }

    #[test]
    fn long_sources_and_tracebacks_are_cut() {
        let mut long = notice();
        let source: Vec<String> = (1..=50).map(|i| format!("x{i} = {i}")).collect();
        let traceback: Vec<String> = (1..=100).map(|i| format!("frame {i} {}", "é".repeat(100))).collect();
        if let Some(cell) = long.failing_cell.as_mut() {
            cell.source = source.join("\n");
            if let Some(error) = cell.error.as_mut() {
                error.traceback = traceback;
                error.evalue = "v".repeat(5000);
            }
        }
        let message = render(&long, Event::Failure, None);
        assert!(message.text.contains("    x8 = 8\n    … (42 more lines)") && !message.text.contains("x9 = 9"), "{}", message.text);
        assert!(message.text.contains("… (70 earlier lines)") && message.text.contains("frame 100") && !message.text.contains("frame 70 "));
        assert!(!message.text.contains("Link:"));
        let sections = message.webhook["blocks"].as_array().cloned().unwrap_or_default();
        for section in &sections {
            let chars = section["text"]["text"].as_str().map_or(0, |t| t.chars().count());
            assert!(chars <= 3000, "a section of {chars} characters");
        }
    }

    #[test]
    fn success_and_slow_subjects() {
        let mut done = notice();
        done.failing_cell = None;
        done.message = None;
        done.status = "completed".into();
        let success = render(&done, Event::Success, None);
        assert_eq!(success.subject, "[tiffin] daily-sales succeeded (run 2026-11-27T06:00 attempt 2)");
        assert_eq!(success.webhook["blocks"].as_array().map(Vec::len), Some(1));
        done.duration = Duration::from_secs(3723);
        assert_eq!(
            render(&done, Event::Slow, None).subject,
            "[tiffin] daily-sales is slow: 1h 02m 03s so far (run 2026-11-27T06:00 attempt 2)"
        );
    }
}
