//! Tests of the series and the SVG chart.
use super::*;

#[test]
fn bands_and_series_are_drawn() {
    let s = Series {
        t_s: vec![0.0, 1.0, 2.0],
        completed_per_s: vec![1.0, 3.0, 2.0],
        latency_p50_ms: vec![Some(100.0), None, Some(120.0)],
        latency_max_ms: vec![Some(150.0), None, Some(300.0)],
        rounds: vec![(0.0, 0.0, 0.0, Some(0.1)), (1.0, 1.0, 4.0, Some(0.2))],
        ..Series::default()
    };
    let bands = vec![
        Band {
            kind: BandKind::Partition,
            start_ms: 500,
            end_ms: 1500,
            label: "partition a|b".into(),
            node: None,
        },
        Band {
            kind: BandKind::Restart,
            start_ms: 1800,
            end_ms: 1800,
            label: "monitor restarts <n1>".into(),
            node: Some("n1".into()),
        },
    ];
    let svg = render("partition & co", &s, &bands, 3.0);
    assert!(svg.starts_with("<svg") && svg.trim_end().ends_with("</svg>"));
    assert_eq!(svg.matches(r#"class="band-partition""#).count(), 4, "one shaded band per panel");
    assert_eq!(svg.matches(r#"class="band-restart""#).count(), 4);
    assert_eq!(svg.matches(r#"class="series""#).count(), 6);
    assert!(svg.contains("partition &amp; co") && svg.contains("&lt;n1&gt;"), "text is escaped");
    let x1 = LEFT + (0.5 / 3.0) * (W - LEFT - RIGHT);
    assert!(svg.contains(&format!(r#"x="{x1:.1}""#)), "band starts at 0.5 s");
}

#[test]
fn series_bucket_completions_by_second() {
    let mut obs = Observations { end_ms: 3_000, ..Observations::default() };
    for (i, (t, done)) in [(0, 400), (100, 900), (1000, 2500)].into_iter().enumerate() {
        let id = format!("i{i}");
        obs.announced.push(crate::observe::Announcement {
            image_id: id.clone(),
            source: "c".into(),
            seq: i as u64,
            captured_at_unix_ms: 0,
            t_ms: t,
        });
        obs.completions.insert(id, done);
    }
    let s = series(&obs);
    assert!(s.completed_per_s_by_source.is_empty(), "one source: the total says it all");
    assert_eq!(s.completed_per_s, vec![2.0, 0.0, 1.0, 0.0]);
    assert_eq!(s.latency_max_ms[0], Some(800.0));
    assert_eq!(s.latency_p50_ms[2], Some(1500.0));
}

#[test]
fn each_source_gets_its_own_throughput_line() {
    let mut obs = Observations { end_ms: 2_000, ..Observations::default() };
    for (i, src) in ["left", "right", "right"].into_iter().enumerate() {
        let id = format!("i{i}");
        obs.announced.push(crate::observe::Announcement {
            image_id: id.clone(),
            source: src.into(),
            seq: i as u64,
            captured_at_unix_ms: 0,
            t_ms: 0,
        });
        obs.completions.insert(id, 1_200);
    }
    let s = series(&obs);
    assert_eq!(s.completed_per_s_by_source["left"], vec![0.0, 1.0, 0.0]);
    assert_eq!(s.completed_per_s_by_source["right"], vec![0.0, 2.0, 0.0]);
    let svg = render("t", &s, &[], 2.0);
    assert!(svg.contains(">left</text>") && svg.contains(">right</text>"), "legend names the sources");
}

#[test]
fn axis_tops_are_round_numbers() {
    assert_eq!(nice_ceil(1.0), 1.0);
    assert_eq!(nice_ceil(4.0), 5.0);
    assert_eq!(nice_ceil(367.0), 500.0);
    assert_eq!(nice_ceil(0.3), 0.5);
}
