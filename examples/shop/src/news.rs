//! New orders as they are placed, on any replica: one task per replica (started by the first
//! watcher) reads the orders after the last one it saw a few times a second, and hands each
//! to every watcher of the replica. The database is what every replica shares, so a watcher
//! hears of an order whichever replica took it.

use std::sync::Arc;
use std::time::Duration;

use specjet::{Database, Problem};
use tokio::sync::{broadcast, OnceCell};

use crate::api::types::Order;
use crate::store;

/// How often the database is asked for new orders.
const EVERY: Duration = Duration::from_millis(250);

/// New orders for this replica's watchers.
#[derive(Debug, Clone)]
pub struct OrderNews {
    database: Database,
    sender: Arc<OnceCell<broadcast::Sender<Arc<Order>>>>,
}

impl OrderNews {
    /// News read from `database` (nothing is read before the first watcher).
    pub fn new(database: Database) -> OrderNews {
        OrderNews {
            database,
            sender: Arc::default(),
        }
    }

    /// The orders placed from now on: the first watcher starts the reader, which learns the
    /// newest order before this returns, so that no order placed after it is missed.
    pub async fn subscribe(&self) -> Result<broadcast::Receiver<Arc<Order>>, Problem> {
        let sender = self
            .sender
            .get_or_try_init(|| async {
                let mut connection = self.database.acquire().await?;
                let last = store::last_order_id(&mut connection).await?;
                let (sender, _) = broadcast::channel(1024);
                tokio::spawn(read(self.database.clone(), sender.clone(), last));
                Ok::<_, Problem>(sender)
            })
            .await?;
        Ok(sender.subscribe())
    }
}

/// Reads the orders after `last`, for as long as the replica runs; a database that does not
/// answer is asked again at the next tick.
async fn read(database: Database, sender: broadcast::Sender<Arc<Order>>, mut last: i64) {
    loop {
        tokio::time::sleep(EVERY).await;
        let Ok(mut connection) = database.acquire().await else {
            continue;
        };
        if sender.receiver_count() == 0 {
            // Nobody listens: keep up with the newest id only.
            if let Ok(newest) = store::last_order_id(&mut connection).await {
                last = newest;
            }
            continue;
        }
        if let Ok(orders) = store::orders_after(&mut connection, None, last, 1000).await {
            for order in orders {
                last = order.id;
                // No watcher left is not an error: the next one subscribes anew.
                let _ = sender.send(Arc::new(order));
            }
        }
    }
}
