// A broken spec is a compile error on the macro argument, with validate's message.
mod api {
    specjet::include_api!("broken.yaml");
}

mod missing {
    specjet::include_api!("no-such-file.yaml");
}

fn main() {}
