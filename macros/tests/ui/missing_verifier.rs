// A scheme without a built-in verifier needs the handlers' own: the compiler names the method.
mod api {
    specjet::include_api!("secured.yaml");
}

use api::operations::get_me;

#[derive(Clone)]
struct Handlers;

#[specjet::api("secured.yaml")]
impl api::Api for Handlers {
    async fn get_me(&self, _request: get_me::Request) -> get_me::Response {
        specjet::Problem::not_implemented("getMe").into()
    }
}

fn main() {}
