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
    oai_petstore,
    oai_petstore_expanded,
    oai_uspto,
    oai_api_with_examples,
    oai_link_example,
    oai_callback_example,
);
