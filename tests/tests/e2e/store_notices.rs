//! Personal notices in the store, on both backends: a notice is queued once per key and channel,
//! falls due at its time, is retried at the time a failure set, and once sent is never due again;
//! the password dates are those of active accounts only.

#![allow(clippy::expect_used, clippy::unwrap_used)]

use orgid_directory::idp::CredentialStore;
use orgid_directory::notice::{Notice, NoticeStore};

use super::store::{Env, at};
use super::store_idp::seed_accounts;

both_backends!(notices_are_queued_once_retried_and_sent_once);

fn notice(key: &str, channel: &str) -> Notice {
    Notice {
        key: key.into(),
        channel: channel.into(),
        recipient: "zhangsan".into(),
        subject: "密码将在 7 天后过期".into(),
        body: "正文".into(),
        attempts: 0,
    }
}

async fn notices_are_queued_once_retried_and_sent_once(e: Env) {
    let s = &e.store;
    seed_accounts(&e).await;
    s.set_password("zhangsan", "$argon2id$h1", false, at(3), 2, &[]).await.unwrap();
    s.set_password("lisi", "$argon2id$h2", false, at(3), 2, &[]).await.unwrap();
    assert_eq!(s.password_dates().await.unwrap(), vec![("zhangsan".to_string(), at(3))], "lisi is disabled");

    let both = [notice("k:1", "wecom"), notice("k:1", "mail")];
    assert_eq!(s.queue_notices(&both, at(4)).await.unwrap(), 2);
    assert_eq!(s.queue_notices(&both, at(5)).await.unwrap(), 0, "queued once");
    assert!(s.due_notices(at(3), 10).await.unwrap().is_empty(), "not before its time");
    let due = s.due_notices(at(5), 10).await.unwrap();
    assert_eq!(due.len(), 2);
    assert!(due.contains(&both[0]) && due.contains(&both[1]), "{due:?}");

    s.notice_sent("k:1", "mail", at(5)).await.unwrap();
    s.notice_failed("k:1", "wecom", "errcode 60020", at(7)).await.unwrap();
    assert!(s.due_notices(at(6), 10).await.unwrap().is_empty(), "the failed one waits its retry");
    let again = s.due_notices(at(7), 10).await.unwrap();
    assert_eq!((again.len(), again[0].channel.as_str(), again[0].attempts), (1, "wecom", 1));
    s.notice_sent("k:1", "wecom", at(7)).await.unwrap();
    assert!(s.due_notices(at(100), 10).await.unwrap().is_empty(), "sent once, never due again");
    assert_eq!(s.queue_notices(&both, at(100)).await.unwrap(), 0, "nor queued again");
}
