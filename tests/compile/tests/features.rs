//! Requests against the service generated from `specs/features.yaml`, in process: every
//! parameter style, body media type and response shape the generator supports.

use specjet::axum::body::{to_bytes, Body};
use specjet::http::{header, Request, StatusCode};
use specjet::serde_json::{self, json, Value};
use specjet_compile_tests::features::operations::{
    archive_item, echo, get_item_json, get_ufc_ber_ue4, shape, tree, upload, upload_echo,
};
use specjet_compile_tests::features::{router_with, settings};
use specjet_compile_tests::features::{types, Api};
use tower::ServiceExt;

#[derive(Clone)]
struct Service;

impl Api for Service {
    async fn get_item_json(&self, request: get_item_json::Request) -> get_item_json::Response {
        if request.item_id == 404 {
            return get_item_json::Response::NotFound;
        }
        get_item_json::Response::Ok {
            body: types::Option {
                id: request.item_id,
                match_: request.x_request_id,
                _2fa: request.session.is_some(),
                user_id: request.filter.as_ref().and_then(|f| f.name.clone()),
                user_id2: request.ids.map(|ids| ids.iter().sum::<i64>().to_string()),
                odata_type: request.type_.map(|t| t.as_str().to_owned()),
                nickname: request.filter.and_then(|f| f.min).map(|_| None),
                tags: None,
                extra: None,
                status: types::OptionStatus::Active,
            },
            x_rate_limit: 7,
            next_page: Some("p2".to_owned()),
        }
    }

    async fn archive_item(&self, request: archive_item::Request) -> archive_item::Response {
        assert_eq!(request.item_id, "a:b");
        archive_item::Response::NoContent
    }

    async fn upload(&self, request: upload::Request) -> upload::Response {
        // A form with a file arrives as a stream of parts; `collect` reads them all.
        let form = match request.body.collect().await {
            Ok(form) => form,
            Err(problem) => return problem.into(),
        };
        let parts: Vec<String> = form
            .parts
            .iter()
            .map(|part| {
                format!(
                    "{}={}",
                    part.name.as_deref().unwrap_or("?"),
                    part.data.len()
                )
            })
            .collect();
        upload::Response::Ok(parts.join(","))
    }

    async fn upload_echo(&self, request: upload_echo::Request) -> upload_echo::Response {
        let mut form = request.body;
        form.parts.reverse();
        upload_echo::Response::Ok(form)
    }

    async fn echo(&self, request: echo::Request) -> echo::Response {
        let received = |kind: &str, text: Option<String>| {
            echo::Response::Ok(echo::OkBody::Json(types::Received {
                kind: kind.to_owned(),
                text,
            }))
        };
        match request.body {
            Some(echo::Body::Json(result)) => received("json", result.ok.map(|ok| ok.to_string())),
            Some(echo::Body::Form(form)) => {
                received("form", Some(format!("{}:{:?}", form.self_, form.count)))
            }
            Some(echo::Body::Text(text)) => {
                echo::Response::Ok(echo::OkBody::Xml(format!("<t>{text}</t>")))
            }
            // Read whole with the other media types, handed over as a stream all the same.
            Some(echo::Body::Binary(stream)) => match stream.bytes().await {
                Ok(bytes) => echo::Response::Status2xx {
                    status: 200 + bytes.len() as u16,
                },
                Err(problem) => problem.into(),
            },
            None => echo::Response::Default {
                status: 418,
                body: types::String {
                    title: Some("empty".to_owned()),
                },
            },
        }
    }

    async fn shape(&self, request: shape::Request) -> shape::Response {
        shape::Response::Ok(match request.body {
            types::Shape::Circle(circle) => std::f64::consts::PI * circle.radius * circle.radius,
            types::Shape::Square(square) => square.side * square.side,
        })
    }

    async fn tree(&self, request: tree::Request) -> tree::Response {
        fn depth(node: &types::Node) -> i32 {
            1 + node.children.iter().flatten().map(depth).max().unwrap_or(0)
        }
        tree::Response::Ok(depth(&request.body))
    }

    async fn get_ufc_ber_ue4(
        &self,
        request: get_ufc_ber_ue4::Request,
    ) -> get_ufc_ber_ue4::Response {
        assert_eq!(request.ue4, "ä");
        get_ufc_ber_ue4::Response::Ok
    }
}

struct Reply {
    status: StatusCode,
    headers: specjet::http::HeaderMap,
    body: Vec<u8>,
}

impl Reply {
    fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&self.body)))
    }

    fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    fn content_type(&self) -> &str {
        self.headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
    }

    fn invalid_param(&self) -> String {
        assert_eq!(
            self.content_type(),
            "application/problem+json",
            "{}",
            self.text()
        );
        self.json()["invalid-params"][0]["name"]
            .as_str()
            .unwrap_or("")
            .to_owned()
    }
}

/// One service, in process (no Redis, whatever the environment says).
fn service() -> specjet::axum::Router {
    router_with(Service, &specjet::Services::new(settings(), None))
}

async fn send(request: Request<Body>) -> Reply {
    send_to(&service(), request).await
}

async fn send_to(service: &specjet::axum::Router, request: Request<Body>) -> Reply {
    let response = service
        .clone()
        .oneshot(request)
        .await
        .expect("the router is infallible");
    let status = response.status();
    let headers = response.headers().clone();
    let body = to_bytes(response.into_body(), usize::MAX)
        .await
        .expect("a body")
        .to_vec();
    Reply {
        status,
        headers,
        body,
    }
}

fn get(uri: &str) -> specjet::http::request::Builder {
    Request::builder().method("GET").uri(uri)
}

fn with_body(method: &str, uri: &str, content_type: &str, body: impl Into<Body>) -> Request<Body> {
    Request::builder()
        .method(method)
        .uri(uri)
        .header(header::CONTENT_TYPE, content_type)
        .body(body.into())
        .expect("a valid request")
}

#[tokio::test]
async fn parameters_of_every_location_and_style() {
    let reply = send(
        get("/items/5.json?filter[name]=bob&filter[min]=2&ids=1,2,3&type=in-progress")
            .header("x-request-id", "abc")
            .header(header::COOKIE, "theme=dark; session=s1")
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text());
    assert_eq!(reply.headers["x-rate-limit"], "7");
    assert_eq!(reply.headers["next-page"], "p2");
    assert_eq!(
        reply.json(),
        json!({"id": 5, "match": "abc", "2fa": true, "userId": "bob", "user_id": "6",
               "@odata.type": "in-progress", "nickname": null, "status": "active"})
    );

    let reply = send(
        get("/items/5.json?type=%2B1")
            .header("x-request-id", "x")
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    assert_eq!(reply.json()["@odata.type"], "+1");
    assert!(
        reply.json().get("nickname").is_none(),
        "absent stays absent"
    );

    let missing_header = send(get("/items/5.json").body(Body::empty()).unwrap()).await;
    assert_eq!(missing_header.status, StatusCode::BAD_REQUEST);
    assert_eq!(missing_header.invalid_param(), "X-Request-Id");

    let bad_enum = send(
        get("/items/5.json?type=bogus")
            .header("x-request-id", "x")
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    assert_eq!(bad_enum.status, StatusCode::BAD_REQUEST);
    assert_eq!(bad_enum.invalid_param(), "type");

    let bad_list = send(
        get("/items/5.json?ids=1,x")
            .header("x-request-id", "x")
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    assert_eq!(bad_list.invalid_param(), "ids");

    let not_found = send(
        get("/items/404.json")
            .header("x-request-id", "x")
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    assert_eq!(not_found.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn literals_inside_segments_pick_the_operation() {
    let archived = send(
        Request::post("/items/a:b:archive")
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    assert_eq!(archived.status, StatusCode::NO_CONTENT);
    // Same route shape, but neither `.json` nor `:archive`: no operation.
    let neither = send(Request::post("/items/a").body(Body::empty()).unwrap()).await;
    assert_eq!(neither.status, StatusCode::NOT_FOUND);
    assert_eq!(neither.content_type(), "application/problem+json");
    let unicode = send(get("/%C3%BCber/%C3%A4").body(Body::empty()).unwrap()).await;
    assert_eq!(unicode.status, StatusCode::OK);
}

#[tokio::test]
async fn bodies_of_every_media_type() {
    let json_reply = send(with_body(
        "PUT",
        "/echo",
        "application/json",
        r#"{"ok":true}"#,
    ))
    .await;
    assert_eq!(json_reply.json(), json!({"kind": "json", "text": "true"}));

    let unknown_member = send(with_body(
        "PUT",
        "/echo",
        "application/json",
        r#"{"ok":true,"x":1}"#,
    ))
    .await;
    assert_eq!(
        unknown_member.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "additionalProperties: false"
    );

    let form = send(with_body(
        "PUT",
        "/echo",
        "application/x-www-form-urlencoded",
        "self=me&count=2",
    ))
    .await;
    assert_eq!(form.json(), json!({"kind": "form", "text": "me:Some(2)"}));
    let bad_form = send(with_body(
        "PUT",
        "/echo",
        "application/x-www-form-urlencoded",
        "count=2",
    ))
    .await;
    assert_eq!(bad_form.status, StatusCode::UNPROCESSABLE_ENTITY);

    let text = send(with_body("PUT", "/echo", "text/plain; charset=utf-8", "hi")).await;
    assert_eq!(text.content_type(), "application/xml");
    assert_eq!(text.text(), "<t>hi</t>");

    let binary = send(with_body(
        "PUT",
        "/echo",
        "application/octet-stream",
        vec![0u8, 1, 2],
    ))
    .await;
    assert_eq!(binary.status.as_u16(), 203);

    let empty = send(Request::put("/echo").body(Body::empty()).unwrap()).await;
    assert_eq!(empty.status.as_u16(), 418);
    assert_eq!(empty.content_type(), "application/problem+json");
    assert_eq!(empty.json(), json!({"title": "empty"}));

    let unsupported = send(with_body("PUT", "/echo", "image/png", "x")).await;
    assert_eq!(unsupported.status, StatusCode::UNSUPPORTED_MEDIA_TYPE);

    let multipart = "--B\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a\"\r\n\r\nabc\r\n--B\r\nContent-Disposition: form-data; name=\"note\"\r\n\r\nhello\r\n--B--\r\n";
    let upload = send(with_body(
        "POST",
        "/upload",
        "multipart/form-data; boundary=B",
        multipart,
    ))
    .await;
    assert_eq!(upload.text(), "file=3,note=5");
    assert_eq!(upload.content_type(), "text/plain");

    // A multipart response: its boundary in the content type, its parts readable.
    let echoed = send(with_body(
        "POST",
        "/upload/echo",
        "multipart/form-data; boundary=B",
        multipart,
    ))
    .await;
    assert_eq!(echoed.status, StatusCode::OK);
    let content_type = echoed.content_type().to_owned();
    assert!(
        content_type.starts_with("multipart/mixed; boundary=specjet-"),
        "{content_type}"
    );
    let mut headers = specjet::http::HeaderMap::new();
    headers.insert("content-type", content_type.parse().unwrap());
    let parts = specjet::MultipartForm::parse(&headers, echoed.body.clone().into())
        .await
        .expect("a multipart body");
    let names: Vec<_> = parts
        .parts
        .iter()
        .map(|part| part.name.as_deref())
        .collect();
    assert_eq!(names, [Some("note"), Some("file")]);
    assert_eq!(parts.text("note"), Some("hello"));
    assert_eq!(parts.parts[1].file_name.as_deref(), Some("a"));
}

#[tokio::test]
async fn an_operations_body_limit_replaces_the_services() {
    // `/tree` takes at most 100 bytes: one more is 413 before the handler, as sent.
    let node = |padding: usize| format!(r#"{{"name":"a"{}}}"#, " ".repeat(padding));
    let at_limit = node(100 - node(0).len());
    assert_eq!(at_limit.len(), 100);
    let fits = send(with_body("POST", "/tree", "application/json", at_limit)).await;
    assert_eq!(fits.json(), json!(1));
    let over = send(with_body(
        "POST",
        "/tree",
        "application/json",
        node(101 - node(0).len()),
    ))
    .await;
    assert_eq!(
        over.status,
        StatusCode::PAYLOAD_TOO_LARGE,
        "{}",
        over.text()
    );
    assert!(
        over.text().contains("larger than 100 bytes"),
        "{}",
        over.text()
    );

    // `/shapes` takes 4 MiB, past the service's 2 MiB: a 3 MiB body is read.
    let padded = format!(
        r#"{{"kind":"square","side":3{}}}"#,
        " ".repeat(3 * 1024 * 1024)
    );
    let square = send(with_body("POST", "/shapes", "application/json", padded)).await;
    assert_eq!(square.json(), json!(9.0));
    // Other operations keep the service's limit.
    let echo = send(with_body(
        "PUT",
        "/echo",
        "text/plain",
        "x".repeat(3 * 1024 * 1024),
    ))
    .await;
    assert_eq!(echo.status, StatusCode::PAYLOAD_TOO_LARGE);

    // `/upload` reads its body as a stream: the limit (1 KiB) ends it as it arrives.
    let multipart = |size: usize| {
        format!(
            "--B\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a\"\r\n\r\n{}\r\n--B--\r\n",
            "x".repeat(size)
        )
    };
    let small = send(with_body(
        "POST",
        "/upload",
        "multipart/form-data; boundary=B",
        multipart(100),
    ))
    .await;
    assert_eq!(small.text(), "file=100");
    let large = send(with_body(
        "POST",
        "/upload",
        "multipart/form-data; boundary=B",
        multipart(2000),
    ))
    .await;
    assert_eq!(
        large.status,
        StatusCode::PAYLOAD_TOO_LARGE,
        "{}",
        large.text()
    );
}

#[tokio::test]
async fn discriminated_and_recursive_schemas() {
    let circle = send(with_body(
        "POST",
        "/shapes",
        "application/json",
        r#"{"kind":"circle","radius":1}"#,
    ))
    .await;
    assert!((circle.json().as_f64().unwrap() - std::f64::consts::PI).abs() < 1e-9);
    let square = send(with_body(
        "POST",
        "/shapes",
        "application/json",
        r#"{"kind":"square","side":3}"#,
    ))
    .await;
    assert_eq!(square.json(), json!(9.0));
    let unknown = send(with_body(
        "POST",
        "/shapes",
        "application/json",
        r#"{"kind":"hexagon"}"#,
    ))
    .await;
    assert_eq!(unknown.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(unknown.text().contains("hexagon"));

    // The tag survives serialization even though the variant type declares it.
    let shape = types::Shape::Square(types::Square {
        kind: "square".into(),
        side: 2.0,
    });
    assert_eq!(
        serde_json::to_value(&shape).unwrap(),
        json!({"kind": "square", "side": 2.0})
    );

    let tree = r#"{"name":"a","children":[{"name":"b","children":[{"name":"c"}]},{"name":"d"}]}"#;
    let depth = send(with_body("POST", "/tree", "application/json", tree)).await;
    assert_eq!(depth.json(), json!(3));
}

#[test]
fn optional_nullable_members_tell_absent_from_null() {
    // `Option` is a response: written, never read, so absent and null must come out apart.
    let mut item = types::Option {
        id: 1,
        match_: "m".into(),
        _2fa: false,
        user_id: None,
        user_id2: None,
        odata_type: None,
        nickname: None,
        tags: None,
        extra: None,
        status: types::OptionStatus::Active,
    };
    let written = serde_json::to_value(&item).unwrap();
    assert!(written.get("nickname").is_none(), "{written}");
    assert_eq!(written["status"], "active");
    item.nickname = Some(None);
    assert_eq!(
        serde_json::to_value(&item).unwrap()["nickname"],
        Value::Null
    );
    item.nickname = Some(Some("nick".into()));
    assert_eq!(serde_json::to_value(&item).unwrap()["nickname"], "nick");
}

#[test]
fn unions_flattened_beside_properties() {
    // `properties` beside `oneOf`: the shared member and the variant's members in one object.
    let pet: types::Pet =
        serde_json::from_value(json!({"name": "disc", "kind": "circle", "radius": 2.0})).unwrap();
    assert_eq!(pet.name, "disc");
    assert!(matches!(pet.variant, types::PetVariant::Circle(ref c) if c.radius == 2.0));
    assert_eq!(
        serde_json::to_value(&pet).unwrap(),
        json!({"name": "disc", "kind": "circle", "radius": 2.0})
    );

    // `allOf` of an object and a discriminated union that both declare `kind`: the union owns it.
    let tagged: types::Tagged =
        serde_json::from_value(json!({"kind": "square", "side": 1.5, "text": "t"})).unwrap();
    assert_eq!(tagged.text.as_deref(), Some("t"));
    assert!(matches!(tagged.part, types::Shape::Square(ref s) if s.side == 1.5));
    assert_eq!(
        serde_json::to_value(&tagged).unwrap(),
        json!({"kind": "square", "side": 1.5, "text": "t"})
    );
}

#[tokio::test]
async fn rate_limits_keyed_by_header_query_and_path() {
    let service = service();
    let status = |request_id: &str, uri: &str| {
        let request = get(uri)
            .header("x-request-id", request_id)
            .body(Body::empty())
            .unwrap();
        let service = service.clone();
        async move { send_to(&service, request).await.status }
    };
    assert_eq!(status("a", "/items/5.json?type=1st").await, StatusCode::OK);
    assert_eq!(status("a", "/items/5.json?type=1st").await, StatusCode::OK);
    assert_eq!(
        status("a", "/items/5.json?type=1st").await,
        StatusCode::TOO_MANY_REQUESTS
    );
    // Any part of the key that differs is another budget.
    assert_eq!(status("b", "/items/5.json?type=1st").await, StatusCode::OK);
    assert_eq!(status("a", "/items/5.json?type=%2B1").await, StatusCode::OK);
    assert_eq!(status("a", "/items/6.json?type=1st").await, StatusCode::OK);
}
