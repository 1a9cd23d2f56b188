//! Dropping a [`Node`] without `stop()` still ends everything it started:
//! the background sync sees its stop channel close and lets go of the peer,
//! the peer's task ends once no handle is left, and its port is released
//! (an app, or a binding's object, that is dropped without `stop` does not
//! leak a listener, a task or the database).

use std::net::TcpListener;
use std::time::{Duration, Instant};

use pigeonhole_sdk::{Config, Node, PeerConfig};

fn port_of(addr: &pigeonhole_sdk::Multiaddr) -> u16 {
    let text = addr.to_string();
    text.rsplit("/tcp/")
        .next()
        .unwrap()
        .split('/')
        .next()
        .unwrap()
        .parse()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropping_a_node_without_stop_releases_its_port() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = Config::in_dir(dir.path());
    config.peer = PeerConfig {
        data_dir: Some(dir.path().to_path_buf()),
        ..PeerConfig::loopback()
    };
    // A background sync holds a handle on the peer: the drop must end it.
    config.sync_interval = Some(Duration::from_millis(50));
    let node = Node::start(config).await.unwrap();
    let port = port_of(&node.peer().listen_addrs()[0]);
    assert!(
        TcpListener::bind(("127.0.0.1", port)).is_err(),
        "the node listens"
    );
    drop(node);
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if TcpListener::bind(("127.0.0.1", port)).is_ok() {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "port {port} still bound after the drop"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
