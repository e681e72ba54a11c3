use std::time::Duration;

use super::*;

#[test]
fn a_flag_value_parses_every_key() {
    let simulation: Simulation = "latency=50ms, create-delay=1.3s,transition-delay=200ms,\
        rate-create=300/60s,rate-lifecycle=5/1s,rate-authenticated=10000/1m,quota-cpu=10,\
        quota-memory=20,quota-disk=30,error-rate=0.01,drop-rate=1%,stall-rate=0.5,stall=2s,\
        exec-defect,seed=7,minute=100ms,metrics-interval=1s,preview-accept-wait=1s,sock-diag=off"
        .parse()
        .unwrap();
    assert_eq!(simulation.latency, Duration::from_millis(50));
    assert_eq!(simulation.create_delay, Duration::from_millis(1300));
    assert_eq!(
        simulation.rate_create,
        Some(RateLimit {
            limit: 300,
            window: Duration::from_secs(60)
        })
    );
    assert_eq!(simulation.quota_disk, Some(30));
    assert!((simulation.drop_rate - 0.01).abs() < 1e-12);
    assert_eq!(simulation.exec_defect, 1.0);
    assert_eq!(simulation.seed, 7);
    assert_eq!(simulation.minute, Duration::from_millis(100));
    assert_eq!(simulation.metrics_interval, Duration::from_secs(1));
    assert_eq!(simulation.preview_accept_wait, Duration::from_secs(1));
    assert!(!simulation.sock_diag);
}

#[test]
fn the_empty_string_is_no_simulation() {
    assert_eq!("".parse::<Simulation>().unwrap(), Simulation::default());
}

#[test]
fn bad_settings_name_the_setting() {
    let error = "latency=fast".parse::<Simulation>().unwrap_err();
    assert!(error.to_string().contains("`latency=fast`"), "{error}");
    let error = "error-rate=2".parse::<Simulation>().unwrap_err();
    assert!(error.to_string().contains("between 0 and 1"), "{error}");
    let error = "rate-create=300".parse::<Simulation>().unwrap_err();
    assert!(error.to_string().contains("N/window"), "{error}");
    let error = "sock-diag=no".parse::<Simulation>().unwrap_err();
    assert!(error.to_string().contains("`on` or `off`"), "{error}");
    let error = "latencyy=5ms".parse::<Simulation>().unwrap_err();
    assert!(
        error.to_string().contains("did you mean `latency`"),
        "{error}"
    );
}

#[test]
fn serde_uses_the_same_keys() {
    let simulation: Simulation = serde_json::from_value(serde_json::json!({
        "latency": "50ms", "rate-create": "3/10s", "quota-cpu": 4
    }))
    .unwrap();
    assert_eq!(simulation.latency, Duration::from_millis(50));
    assert_eq!(simulation.rate_create.unwrap().limit, 3);
    let back: Simulation =
        serde_json::from_value(serde_json::to_value(&simulation).unwrap()).unwrap();
    assert_eq!(back, simulation);
    assert!(serde_json::from_value::<Simulation>(serde_json::json!({"latncy": "1s"})).is_err());
}

#[test]
fn dice_repeat_for_a_seed_and_respect_the_rate() {
    let rolls = |seed| {
        let dice = Dice::new(seed);
        (0..1000).map(|_| dice.roll(0.3)).collect::<Vec<_>>()
    };
    assert_eq!(rolls(7), rolls(7));
    assert_ne!(rolls(7), rolls(8));
    let hits = rolls(7).iter().filter(|&&hit| hit).count();
    assert!((200..400).contains(&hits), "{hits}");
    let dice = Dice::new(1);
    assert!((0..100).all(|_| !dice.roll(0.0)));
    assert!((0..100).all(|_| dice.roll(1.0)));
}

#[test]
fn a_throttler_allows_its_limit_then_refuses() {
    let simulation: Simulation = "rate-create=2/60s".parse().unwrap();
    let throttlers = Throttlers::new(&simulation);
    assert!(throttlers.hit(Throttler::Authenticated).is_none());
    let first = throttlers.hit(Throttler::SandboxCreate).unwrap();
    assert!(first.allowed);
    assert_eq!((first.limit, first.remaining), (2, 1));
    assert!(throttlers.hit(Throttler::SandboxCreate).unwrap().allowed);
    let third = throttlers.hit(Throttler::SandboxCreate).unwrap();
    assert!(!third.allowed);
    assert_eq!(third.remaining, 0);
    assert!((1..=60).contains(&third.reset_seconds));
}

#[test]
fn quota_messages_are_daytonas() {
    let simulation: Simulation = "quota-cpu=4,quota-memory=8,quota-disk=10".parse().unwrap();
    let used = Usage {
        cpu: 3,
        memory: 3,
        disk: 9,
    };
    let ask = |cpu, memory, disk| Usage { cpu, memory, disk };
    let cpu = simulation.quota_violation(used, ask(2, 1, 0)).unwrap();
    assert!(
        cpu.starts_with("Total CPU limit exceeded. Maximum allowed: 4.\n"),
        "{cpu}"
    );
    let memory = simulation.quota_violation(used, ask(1, 6, 0)).unwrap();
    assert!(
        memory.starts_with("Total memory limit exceeded. Maximum allowed: 8GiB."),
        "{memory}"
    );
    let disk = simulation.quota_violation(used, ask(1, 1, 3)).unwrap();
    assert!(
        disk.starts_with("Total disk limit exceeded. Maximum allowed: 10GiB.\nConsider archiving"),
        "{disk}"
    );
    assert_eq!(simulation.quota_violation(used, ask(1, 5, 1)), None);
}
