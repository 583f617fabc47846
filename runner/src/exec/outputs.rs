//! Turning IOPub messages into stored outputs, with nbclient's semantics: streams merged per name,
//! `clear_output` (immediate or at the next output), and `display_id` updates that reach every
//! earlier output with that id, in any cell.

use std::collections::HashMap;

use serde_json::{Map, Value, json};

use super::terminal;
use crate::notebook::Cell;

/// An output of the running cell, with the display id it was shown under (not stored: transient).
struct Pending {
    output: Value,
    display_id: Option<String>,
}

/// Collects the outputs of one cell at a time, and remembers where every display id went.
#[derive(Default)]
pub struct OutputRecorder {
    current: Vec<Pending>,
    clear_before_next: bool,
    /// display_id → (cell index, output index) of finished cells.
    displays: HashMap<String, Vec<(usize, usize)>>,
}

/// What a message meant for the run, beyond the outputs it added.
pub enum Effect {
    None,
    /// Text the cell printed, for `--log-output`.
    Stream {
        name: String,
        text: String,
    },
    ExecutionCount(u64),
}

impl OutputRecorder {
    pub fn start_cell(&mut self) {
        self.current.clear();
        self.clear_before_next = false;
    }

    /// Applies one IOPub message that belongs to the running cell.
    pub fn handle(&mut self, cells: &mut [Cell], msg_type: &str, content: &Value) -> Effect {
        let display_id = content.get("transient").and_then(|t| t.get("display_id")).and_then(Value::as_str).map(str::to_owned);
        if let Some(id) = &display_id
            && matches!(msg_type, "display_data" | "execute_result" | "update_display_data")
        {
            self.update_display(cells, id, content);
        }
        match msg_type {
            "clear_output" => {
                if content.get("wait").and_then(Value::as_bool).unwrap_or(false) {
                    self.clear_before_next = true;
                } else {
                    self.current.clear();
                }
                Effect::None
            }
            "stream" => {
                let name = str_field(content, "name");
                let text = str_field(content, "text");
                self.push_stream(&name, &text);
                Effect::Stream { name, text }
            }
            "display_data" => {
                self.push(
                    json!({"output_type": "display_data", "data": obj_field(content, "data"), "metadata": obj_field(content, "metadata")}),
                    display_id,
                );
                Effect::None
            }
            "execute_result" => {
                let count = content.get("execution_count").cloned().unwrap_or(Value::Null);
                self.push(
                    json!({"output_type": "execute_result", "data": obj_field(content, "data"), "metadata": obj_field(content, "metadata"), "execution_count": count}),
                    display_id,
                );
                count.as_u64().map_or(Effect::None, Effect::ExecutionCount)
            }
            "error" => {
                let traceback = content.get("traceback").cloned().unwrap_or_else(|| json!([]));
                self.push(
                    json!({"output_type": "error", "ename": str_field(content, "ename"), "evalue": str_field(content, "evalue"), "traceback": traceback}),
                    None,
                );
                Effect::None
            }
            "execute_input" => content.get("execution_count").and_then(Value::as_u64).map_or(Effect::None, Effect::ExecutionCount),
            _ => Effect::None,
        }
    }

    fn apply_pending_clear(&mut self) {
        if std::mem::take(&mut self.clear_before_next) {
            self.current.clear();
        }
    }

    fn push(&mut self, output: Value, display_id: Option<String>) {
        self.apply_pending_clear();
        self.current.push(Pending { output, display_id });
    }

    /// Appends to the cell's stream of that name, wherever it is (nbclient's coalesce_streams).
    fn push_stream(&mut self, name: &str, text: &str) {
        self.apply_pending_clear();
        let existing = self
            .current
            .iter_mut()
            .find(|p| p.output["output_type"] == "stream" && p.output["name"] == name)
            .and_then(|p| p.output.get_mut("text"));
        match existing {
            Some(Value::String(stored)) => stored.push_str(text),
            _ => self.push(json!({"output_type": "stream", "name": name, "text": text}), None),
        }
    }

    fn update_display(&mut self, cells: &mut [Cell], display_id: &str, content: &Value) {
        let data = obj_field(content, "data");
        let metadata = obj_field(content, "metadata");
        let set = |output: &mut Value| {
            if let Some(obj) = output.as_object_mut() {
                obj.insert("data".into(), data.clone());
                obj.insert("metadata".into(), metadata.clone());
            }
        };
        for &(cell, index) in self.displays.get(display_id).into_iter().flatten() {
            if let Some(output) = cells.get_mut(cell).and_then(|c| c.outputs.get_mut(index)) {
                set(output);
            }
        }
        for pending in self.current.iter_mut().filter(|p| p.display_id.as_deref() == Some(display_id)) {
            set(&mut pending.output);
        }
    }

    /// The running cell's outputs so far, as they would be stored (for saves during a run).
    pub fn snapshot(&self) -> Vec<Value> {
        finish_streams(self.current.iter().map(|p| p.output.clone()).collect())
    }

    /// Ends the cell: stores its outputs and records where its display ids live.
    pub fn finish_cell(&mut self, cells: &mut [Cell], cell_index: usize) {
        self.clear_before_next = false;
        let pending = std::mem::take(&mut self.current);
        let mut ids = Vec::with_capacity(pending.len());
        let outputs = pending
            .into_iter()
            .map(|p| {
                ids.push(p.display_id);
                p.output
            })
            .collect();
        let outputs = finish_streams(outputs);
        // finish_streams may swap a stderr/stdout pair; streams never carry display ids.
        for (index, id) in ids.into_iter().enumerate() {
            if let Some(id) = id {
                self.displays.entry(id).or_default().push((cell_index, index));
            }
        }
        if let Some(cell) = cells.get_mut(cell_index) {
            cell.outputs = outputs;
        }
    }
}

/// Renders `\r`/`\b` in stream text, and puts stdout before an adjacent stderr as nbclient does
/// (the two arrive asynchronously, so their order is not meaningful).
fn finish_streams(mut outputs: Vec<Value>) -> Vec<Value> {
    for output in &mut outputs {
        if output["output_type"] == "stream"
            && let Some(Value::String(text)) = output.get_mut("text")
        {
            *text = terminal::render(text);
        }
    }
    let is_stream = |o: &Value, name: &str| o["output_type"] == "stream" && o["name"] == name;
    if let Some(i) =
        (0..outputs.len().saturating_sub(1)).find(|&i| is_stream(&outputs[i], "stderr") && is_stream(&outputs[i + 1], "stdout"))
    {
        outputs.swap(i, i + 1);
    }
    outputs
}

fn str_field(content: &Value, key: &str) -> String {
    content.get(key).and_then(Value::as_str).unwrap_or_default().to_owned()
}

fn obj_field(content: &Value, key: &str) -> Value {
    match content.get(key) {
        Some(v @ Value::Object(_)) => v.clone(),
        _ => Value::Object(Map::new()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cells(n: usize) -> Vec<Cell> {
        (0..n).map(|_| Cell::new_code(String::new(), &[], false)).collect()
    }

    fn display(id: &str, text: &str) -> Value {
        json!({"data": {"text/plain": text}, "metadata": {}, "transient": {"display_id": id}})
    }

    #[test]
    fn streams_merge_per_name_and_stdout_precedes_stderr() {
        let mut cells = cells(1);
        let mut rec = OutputRecorder::default();
        rec.start_cell();
        rec.handle(&mut cells, "stream", &json!({"name": "stderr", "text": "warn\n"}));
        rec.handle(&mut cells, "stream", &json!({"name": "stdout", "text": "a\n"}));
        rec.handle(&mut cells, "stream", &json!({"name": "stdout", "text": "1%\r2%\n"}));
        rec.finish_cell(&mut cells, 0);
        assert_eq!(
            cells[0].outputs,
            vec![
                json!({"output_type": "stream", "name": "stdout", "text": "a\n2%\n"}),
                json!({"output_type": "stream", "name": "stderr", "text": "warn\n"})
            ]
        );
    }

    #[test]
    fn clear_output_wait_clears_at_the_next_output() {
        let mut cells = cells(1);
        let mut rec = OutputRecorder::default();
        rec.start_cell();
        rec.handle(&mut cells, "stream", &json!({"name": "stdout", "text": "old\n"}));
        rec.handle(&mut cells, "clear_output", &json!({"wait": true}));
        assert_eq!(rec.snapshot().len(), 1);
        rec.handle(&mut cells, "stream", &json!({"name": "stdout", "text": "new\n"}));
        rec.finish_cell(&mut cells, 0);
        assert_eq!(cells[0].outputs, vec![json!({"output_type": "stream", "name": "stdout", "text": "new\n"})]);
    }

    #[test]
    fn display_updates_reach_earlier_cells_and_never_append() {
        let mut cells = cells(2);
        let mut rec = OutputRecorder::default();
        rec.start_cell();
        rec.handle(&mut cells, "display_data", &display("d1", "first"));
        rec.finish_cell(&mut cells, 0);
        rec.start_cell();
        rec.handle(&mut cells, "update_display_data", &display("d1", "second"));
        rec.finish_cell(&mut cells, 1);
        assert_eq!(cells[0].outputs[0]["data"]["text/plain"], "second");
        assert!(cells[1].outputs.is_empty());
        assert!(cells[0].outputs[0].get("transient").is_none());
    }

    #[test]
    fn a_new_display_with_a_known_id_updates_the_old_one_too() {
        let mut cells = cells(1);
        let mut rec = OutputRecorder::default();
        rec.start_cell();
        rec.handle(&mut cells, "display_data", &display("x", "one"));
        rec.handle(&mut cells, "display_data", &display("x", "two"));
        rec.finish_cell(&mut cells, 0);
        let texts: Vec<_> = cells[0].outputs.iter().map(|o| o["data"]["text/plain"].clone()).collect();
        assert_eq!(texts, [json!("two"), json!("two")]);
    }
}
