//! `pigeonhole demo` as a user runs it: a separate process, every step
//! verified and timed, exit 0. (A failing step's message is checked by the
//! demo module's unit test.)

mod common;

use common::run;

#[test]
fn the_demo_verifies_every_step_and_reports_timings() {
    let text = run(&["demo"]);
    text.ok();
    let lines: Vec<&str> = text.stdout.lines().collect();
    assert!(lines.len() >= 8, "{text:?}");
    assert!(
        lines.last().unwrap().starts_with("all 7 steps verified in"),
        "{text:?}"
    );

    let report = run(&["--json", "demo"]).json();
    assert_eq!(report["schema"], "pigeonhole.demo/1");
    assert_eq!(report["ok"], true);
    let steps = report["steps"].as_array().unwrap();
    assert_eq!(steps.len(), 7);
    for step in steps {
        assert_eq!(step["ok"], true, "{step}");
        assert!(step["millis"].is_u64());
    }
    let names: Vec<&str> = steps.iter().map(|s| s["name"].as_str().unwrap()).collect();
    assert!(names[2].contains("Alice sends Bob a buddy request"));
    assert!(names[6].contains("Alice returns and sees Bob"));
}
