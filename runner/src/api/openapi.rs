//! The OpenAPI document of the API, kept in the repository and served as written.

/// `docs/api/openapi.json`.
pub const DOCUMENT: &str = include_str!("../../../docs/api/openapi.json");

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::DOCUMENT;

    /// Every route the router has is documented, and the document describes no route it lacks.
    #[test]
    fn document_lists_exactly_the_routes() {
        let document: serde_json::Value = serde_json::from_str(DOCUMENT).expect("docs/api/openapi.json is JSON");
        assert_eq!(document["openapi"].as_str().map(|v| v.starts_with("3.1")), Some(true));
        let paths = document["paths"].as_object().expect("the document has paths");
        let documented: BTreeSet<(String, String)> = paths
            .iter()
            .flat_map(|(path, item)| {
                let methods = item.as_object().map(|m| m.keys().cloned().collect::<Vec<_>>()).unwrap_or_default();
                methods.into_iter().filter(|m| m != "parameters").map(move |m| (m, path.clone()))
            })
            .collect();
        let routed: BTreeSet<(String, String)> =
            super::super::routes::routes().listed.iter().map(|(method, path)| ((*method).to_owned(), (*path).to_owned())).collect();
        assert_eq!(routed, documented);
    }
}
