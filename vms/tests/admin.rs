//! Account upgrades through the `vms` library against a real RocksDB store (issue 22 F5):
//! administrators now need a second factor, so an older demo's administrator gets one on the
//! next demo start instead of being shut out.
#![allow(clippy::unwrap_used)]

use vms_storage::{Role, SecretBox, Store, StoreOptions};

#[test]
fn an_older_demos_admin_gets_a_second_factor_on_the_next_start() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path(), StoreOptions::default()).unwrap();
    let secrets = SecretBox::new(&[3; 32]);
    let url = url::Url::parse("rtsp://127.0.0.1:9/cam/0").unwrap();
    vms::admin::seed_demo(&store, &secrets, std::slice::from_ref(&url)).unwrap();
    // As a demo made before administrators needed a second factor left it.
    let mut admin = store.user("admin").unwrap().unwrap();
    assert!(admin.totp_secret.is_some(), "a new demo's admin has one");
    admin.totp_secret = None;
    store.put_user(&admin).unwrap();

    let logins = vms::admin::seed_demo(&store, &secrets, &[url]).unwrap();
    let line = logins
        .lines
        .iter()
        .find(|l| l.starts_with("admin"))
        .unwrap_or_else(|| panic!("no line for admin: {:?}", logins.lines));
    assert!(line.contains("otpauth://"), "{line}");
    let admin = store.user("admin").unwrap().unwrap();
    assert_eq!(admin.role, Role::Admin);
    assert!(admin.totp_secret.is_some());
}
