//! A `$filter` built to exhaust the parser: deep nesting, long chains, huge text.

use crate::services::{KINDS, Options, start};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deeply_nested_or_huge_filters_get_400_and_the_service_lives_on() {
    for kind in KINDS {
        let dir = tempfile::tempdir().unwrap();
        let service = start(kind, &dir.path().join("state.db"), &Options::default())
            .await
            .unwrap();
        service.pool_and_job("p", "j").await;
        let term = "state eq 'active'";
        let filters = [
            // The reported attack: 20,000 parentheses.
            format!("{}{term}{}", "(".repeat(20_000), ")".repeat(20_000)),
            // Under the size limit, over the depth limit.
            format!("{}{term}{}", "(".repeat(3_000), ")".repeat(3_000)),
            format!("{}{term}", "not ".repeat(3_000)),
            // A flat chain with more terms than allowed.
            vec![term; 1_001].join(" and "),
        ];
        for filter in &filters {
            // Parentheses and quotes as they are: percent-encoded, 20,000 of each
            // would pass the client's own URI length limit.
            let query = format!("$filter={}", filter.replace(' ', "%20"));
            for path in ["/pools", "/jobs", "/jobs/j/tasks"] {
                let (status, answer) = service.get(&format!("{path}?{query}")).await;
                assert_eq!(
                    (status, answer["code"].as_str()),
                    (400, Some("InvalidQueryParameterValue")),
                    "{kind:?} {path}, a filter of {} bytes: {answer}",
                    filter.len()
                );
            }
        }
        // Still serving, and a reasonable nested filter works.
        let ok = format!("{}{term}{}", "(".repeat(20), ")".repeat(20));
        let query = url::form_urlencoded::Serializer::new(String::new())
            .append_pair("$filter", &ok)
            .finish();
        let (status, answer) = service.get(&format!("/jobs?{query}")).await;
        assert_eq!(status, 200, "{kind:?}: {answer}");
        assert_eq!(answer["value"].as_array().map(Vec::len), Some(1));
        service.stop().await;
    }
}
