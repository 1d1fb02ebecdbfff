//! Store errors say which backend failed and what, and never repeat a connection URL's password.

use hookguard_tower::store::{PostgresStore, RedisStore, StoreError};

const PASSWORD: &str = "s3cret-in-the-url";

/// The error and its whole source chain, as a log line would print them.
fn chain(error: &StoreError) -> String {
    let mut out = error.to_string();
    let mut source = std::error::Error::source(error);
    while let Some(inner) = source {
        out.push_str(": ");
        out.push_str(&inner.to_string());
        source = inner.source();
    }
    out
}

#[tokio::test]
async fn an_unreachable_redis_names_the_backend_without_the_password() {
    // Port 1 on loopback: nothing listens, the connection is refused at once.
    for url in [
        format!("redis://:{PASSWORD}@127.0.0.1:1/0"),
        format!("redis://user:{PASSWORD}@127.0.0.1:1:notaport"),
    ] {
        let error = RedisStore::connect(&url).await.unwrap_err();
        let text = chain(&error);
        assert!(
            matches!(
                error,
                StoreError::Unavailable {
                    backend: "redis",
                    ..
                }
            ),
            "{text}"
        );
        assert!(!text.contains(PASSWORD), "{text}");
    }
}

#[tokio::test]
async fn an_unreachable_postgres_names_the_backend_without_the_password() {
    for url in [
        format!("postgres://postgres:{PASSWORD}@127.0.0.1:1/test"),
        format!("postgres://postgres:{PASSWORD}@127.0.0.1:notaport/test"),
    ] {
        let error = PostgresStore::connect(&url).await.unwrap_err();
        let text = chain(&error);
        assert!(
            matches!(
                error,
                StoreError::Unavailable {
                    backend: "postgresql",
                    ..
                }
            ),
            "{text}"
        );
        assert!(!text.contains(PASSWORD), "{text}");
    }
}
