//! The shop's generated client (`api::Client`): every operation it has (all but the two
//! streams) round-trips typed values through the shop's router in process, on each database
//! (a fresh SQLite file, and Postgres when `DATABASE_URL` is set).

#[path = "../../../runtime/tests/support/postgres.rs"]
mod postgres;

use shop_example::api::operations::{
    create_order, create_product, create_user, delete_product, get_dashboard, get_order,
    get_product, get_user, get_user_stats, issue_token, list_my_orders, list_products,
    list_user_orders, list_users, update_order,
};
use shop_example::api::types::{
    Address, NewOrder, NewOrderItem, NewProduct, NewUser, OrderStatus, OrderUpdate, Tier,
    TokenRequest,
};
use shop_example::api::{self, Client};
use shop_example::handlers::Shop;
use specjet::security::Principal;
use specjet::{Database, Services};

/// The shop in process over `database`, and a client of it.
async fn client(database: &postgres::TestDatabase) -> Client {
    std::env::set_var(
        shop_example::tokens::SECRET_ENV,
        "the-shop-client-tests-signing-key",
    );
    let settings = api::settings();
    let declared = settings.database.clone().expect("a database");
    let pool = Database::connect(&declared, Some(&database.url))
        .await
        .unwrap_or_else(|error| panic!("{}: {error}", database.backend));
    let services = Services::new(settings, None).with_database(pool);
    let shop = Shop::new(&services).expect("the services have a database");
    Client::in_process(api::router_with(shop, &services))
}

/// Unwraps the variant `$variant` of a response, or fails naming what came instead.
macro_rules! expect {
    ($answer:expr, $variant:path) => {
        match $answer {
            $variant(value) => value,
            other => panic!("expected {}, got {other:?}", stringify!($variant)),
        }
    };
}

#[tokio::test]
async fn every_operation_round_trips_typed_values_on_every_database() {
    for database in postgres::every_backend("shop_client") {
        let backend = database.backend;
        let client = client(&database).await;

        // Products: create, conflict, list, show, delete (the cached answer goes with it).
        let apple = NewProduct {
            sku: "apple".to_owned(),
            name: "Apple".to_owned(),
            price_cents: 120,
            stock: Some(7),
        };
        let created = client
            .create_product(create_product::Request::new(apple.clone()))
            .await
            .unwrap();
        let apple_product = expect!(created, create_product::Response::Created);
        assert_eq!((apple_product.stock, apple_product.price_cents), (7, 120));
        let again = client
            .create_product(create_product::Request::new(apple))
            .await
            .unwrap();
        assert!(
            matches!(again, create_product::Response::Conflict(_)),
            "{backend}"
        );
        let mut request = list_products::Request::new();
        request.limit = 1;
        let listed = expect!(
            client.list_products(request).await.unwrap(),
            list_products::Response::Ok
        );
        assert_eq!(listed, vec![apple_product.clone()], "{backend}");
        let shown = client
            .get_product(get_product::Request::new(apple_product.id))
            .await
            .unwrap();
        assert_eq!(expect!(shown, get_product::Response::Ok), apple_product);

        // Users: register (a token comes with it), read, page.
        let registered = client
            .create_user(create_user::Request::new(NewUser {
                email: "ada@example.com".to_owned(),
                name: "Ada".to_owned(),
                tier: Some(Tier::Gold),
            }))
            .await
            .unwrap();
        let ada = expect!(registered, create_user::Response::Created);
        assert_eq!(ada.tier, Tier::Gold);
        let user = expect!(
            client
                .get_user(get_user::Request::new(ada.id))
                .await
                .unwrap(),
            get_user::Response::Ok
        );
        assert_eq!((user.id, user.email.as_str()), (ada.id, "ada@example.com"));
        let page = expect!(
            client.list_users(list_users::Request::new()).await.unwrap(),
            list_users::Response::Ok
        );
        assert!(page.items.iter().any(|u| u.id == ada.id), "{backend}");
        let missing = client
            .get_user(get_user::Request::new(999_999_999))
            .await
            .unwrap();
        assert!(
            matches!(missing, get_user::Response::NotFound(_)),
            "{backend}"
        );

        // Orders: create, read, update, list, statistics, the dashboard (a fan-out).
        let order = NewOrder {
            items: vec![NewOrderItem {
                product_id: apple_product.id,
                quantity: 2,
            }],
            shipping: Address {
                street: "1 Loop Road".to_owned(),
                city: "Localhost".to_owned(),
                postcode: None,
                country: "GB".to_owned(),
            },
        };
        let order = expect!(
            client
                .create_order(create_order::Request::new(ada.id, order))
                .await
                .unwrap(),
            create_order::Response::Created
        );
        assert_eq!(order.total_cents, 240, "{backend}");
        assert_eq!(order.status, OrderStatus::Pending);
        let read = expect!(
            client
                .get_order(get_order::Request::new(order.id))
                .await
                .unwrap(),
            get_order::Response::Ok
        );
        assert_eq!(read, order, "{backend}");
        let paid = expect!(
            client
                .update_order(update_order::Request::new(
                    order.id,
                    OrderUpdate {
                        status: OrderStatus::Paid,
                    },
                ))
                .await
                .unwrap(),
            update_order::Response::Ok
        );
        assert_eq!(paid.status, OrderStatus::Paid);
        let orders = expect!(
            client
                .list_user_orders(list_user_orders::Request::new(ada.id))
                .await
                .unwrap(),
            list_user_orders::Response::Ok
        );
        assert_eq!(orders.items, vec![paid.clone()], "{backend}");
        let stats = expect!(
            client
                .get_user_stats(get_user_stats::Request::new(ada.id))
                .await
                .unwrap(),
            get_user_stats::Response::Ok
        );
        assert_eq!((stats.orders, stats.spent_cents), (1, 240), "{backend}");
        let dashboard = expect!(
            client
                .get_dashboard(get_dashboard::Request::new(ada.id))
                .await
                .unwrap(),
            get_dashboard::Response::Ok
        );
        assert_eq!(dashboard.user, user);
        assert_eq!(dashboard.orders, orders);
        assert_eq!(dashboard.stats, stats);

        // The private list: refused without a token, answered with the one issued.
        let mine = || list_my_orders::Request::new(Principal::unverified());
        let refused = client.list_my_orders(mine()).await.unwrap();
        assert!(
            matches!(refused, list_my_orders::Response::Unauthorized(_)),
            "{backend}: {refused:?}"
        );
        let issued = expect!(
            client
                .issue_token(issue_token::Request::new(TokenRequest { user_id: ada.id }))
                .await
                .unwrap(),
            issue_token::Response::Created
        );
        let signed_in = client.clone().with_token(&issued.token);
        let my_orders = expect!(
            signed_in.list_my_orders(mine()).await.unwrap(),
            list_my_orders::Response::Ok
        );
        assert_eq!(my_orders.items, vec![paid], "{backend}");

        let deleted = client
            .delete_product(delete_product::Request::new(apple_product.id))
            .await
            .unwrap();
        assert!(
            matches!(deleted, delete_product::Response::NoContent),
            "{backend}"
        );
        let gone = client
            .get_product(get_product::Request::new(apple_product.id))
            .await
            .unwrap();
        assert!(
            matches!(gone, get_product::Response::NotFound(_)),
            "{backend}"
        );
    }
}
