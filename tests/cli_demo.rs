//! `pigeonhole demo` as a user runs it: a separate process, every step
//! verified and timed, the feed printed as RSS 2.0, exit 0. (A failing step's message is checked by the
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
        lines
            .last()
            .unwrap()
            .starts_with("all 12 steps verified in"),
        "{text:?}"
    );
    assert!(text.stdout.contains("<rss version=\"2.0\">"), "{text:?}");

    let report = run(&["--json", "demo"]).json();
    assert_eq!(report["schema"], "pigeonhole.demo/1");
    assert_eq!(report["ok"], true);
    let steps = report["steps"].as_array().unwrap();
    assert_eq!(steps.len(), 12);
    for step in steps {
        assert_eq!(step["ok"], true, "{step}");
        assert!(step["millis"].is_u64());
    }
    let names: Vec<&str> = steps.iter().map(|s| s["name"].as_str().unwrap()).collect();
    assert!(names[2].contains("Alice sends Bob a buddy request"));
    assert!(names[6].contains("Alice returns and sees Bob"));
    assert!(names[8].contains("reads the 3 posts in order"));
    assert!(names[9].contains("RSS 2.0"));
    assert!(names[11].contains("receives the notice with its content"));
    // The RSS printed is the feed, newest first.
    let rss = report["rss"].as_str().expect("the RSS document");
    let channel = rss::Channel::read_from(rss.as_bytes()).expect("RSS 2.0");
    let titles: Vec<&str> = channel.items().iter().filter_map(|i| i.title()).collect();
    assert_eq!(
        titles,
        [
            "See you next month",
            "Slides from the first talk",
            "Welcome to the meetup"
        ]
    );
}
