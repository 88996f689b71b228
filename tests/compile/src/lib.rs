//! The code generated from `specs/` and the OpenAPI Initiative examples, compiled with every
//! warning denied. A build failure here is a generator bug.

#![deny(warnings)]

macro_rules! generated {
    ($($name:ident),* $(,)?) => {
        $(
            pub mod $name {
                include!(concat!(env!("OUT_DIR"), "/", stringify!($name), ".rs"));
            }
        )*
    };
}

generated!(
    petstore,
    features,
    connections,
    fanout,
    serving,
    contract,
    contract_no_formats,
    swagger2,
    observability,
    empty,
    invisible,
    security,
    streams,
    empty_operations,
    oai_petstore,
    oai_petstore_expanded,
    oai_uspto,
    oai_api_with_examples,
    oai_link_example,
    oai_callback_example,
);

/// Handlers of the `fanout` service whose parts take 50, 80 and 120 ms, shared by its tests
/// and its benchmark (`examples/fanout.rs`).
pub mod fanout_parts {
    use std::collections::BTreeMap;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;
    use std::time::Duration;

    use crate::fanout::operations::{get_stats, get_user, list_orders};
    use crate::fanout::{types, Api};

    /// Handlers that take 50, 80 and 120 ms, counting the user reads.
    #[derive(Clone, Default)]
    pub struct Parts {
        /// How many times `getUser`'s handler ran.
        pub user_reads: Arc<AtomicUsize>,
    }

    impl Api for Parts {
        async fn get_user(&self, request: get_user::Request) -> get_user::Response {
            self.user_reads.fetch_add(1, Ordering::SeqCst);
            specjet::tokio::time::sleep(Duration::from_millis(50)).await;
            if request.user_id == 404 {
                return get_user::Response::NotFound;
            }
            if request.user_id == 503 {
                // The store is away for a while: says when to come back.
                let away = specjet::Problem::new(specjet::http::StatusCode::SERVICE_UNAVAILABLE)
                    .with_retry_after(7);
                return away.into();
            }
            get_user::Response::Ok(types::User {
                id: request.user_id,
                name: format!("user {}", request.user_id),
            })
        }

        async fn list_orders(&self, request: list_orders::Request) -> list_orders::Response {
            specjet::tokio::time::sleep(Duration::from_millis(80)).await;
            let orders = (0..i64::from(request.limit)).map(|n| request.user_id * 100 + n);
            list_orders::Response::Ok(orders.collect())
        }

        async fn get_stats(&self, request: get_stats::Request) -> get_stats::Response {
            specjet::tokio::time::sleep(Duration::from_millis(120)).await;
            if request.user_id == 13 {
                return get_stats::Response::ServiceUnavailable;
            }
            get_stats::Response::Ok(BTreeMap::from([("orders".to_owned(), 3)]))
        }
    }
}
