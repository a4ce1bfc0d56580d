//! The outsider checks on hand-made figures: a connection fails them, so do outsiders that
//! never dialled (no refusal counted), and a run without outsiders has no data to pass on.

use super::*;

fn outcome(connections: Option<usize>, refused: u64, values: Option<usize>) -> Vec<(String, bool)> {
    let c = Checks { outsider_connections_max: Some(0), outsider_values_max: Some(0), ..Checks::default() };
    let f = Figures {
        outsider_connections: connections,
        connections_refused: refused,
        outsider_values: values,
        ..Figures::default()
    };
    evaluate(&c, &f)
        .into_iter()
        .filter(|r| r.name.starts_with("outsider"))
        .map(|r| (r.name, r.passed))
        .collect()
}

#[test]
fn outsiders_kept_out_pass_and_every_way_in_fails() {
    let pass = |name: &str| (name.to_string(), true);
    let fail = |name: &str| (name.to_string(), false);
    assert_eq!(outcome(Some(0), 12, Some(0)), vec![pass("outsider_connections"), pass("outsider_values")]);
    assert_eq!(outcome(Some(1), 12, Some(0))[0], fail("outsider_connections"));
    assert_eq!(
        outcome(Some(0), 0, Some(0))[0],
        fail("outsider_connections"),
        "no refusal: they never dialled"
    );
    assert_eq!(outcome(Some(0), 12, Some(3))[1], fail("outsider_values"));
    assert_eq!(outcome(None, 0, None), vec![fail("outsider_connections"), fail("outsider_values")]);
}
