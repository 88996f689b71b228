//! The intermediate representation: plain data describing the API, with no OpenAPI types in
//! it. Everything after lowering (code generation, summaries, diffs) reads only this.

/// Index of a type in [`Api::types`].
pub type TypeId = usize;

/// The whole API.
#[derive(Debug, Clone, PartialEq)]
pub struct Api {
    /// `info.title`.
    pub title: String,
    /// `info.version`.
    pub version: String,
    /// `info.description`.
    pub description: Option<String>,
    /// Every operation, in document order.
    pub operations: Vec<Operation>,
    /// Every named type; a [`TypeId`] indexes it.
    pub types: Vec<TypeDef>,
    /// The axum routes the operations are served on.
    pub routes: Vec<Route>,
    /// The root `x-specjet` settings.
    pub settings: ServiceSettings,
    /// The document itself, bundled into one JSON text (every external `$ref` brought in),
    /// which the service serves at `/openapi.json`.
    pub document: String,
    /// `components.securitySchemes`, in document order.
    pub security_schemes: Vec<SecurityScheme>,
}

/// Service-wide settings (`x-specjet`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ServiceSettings {
    /// The document has a root `x-specjet` key.
    pub opted_in: bool,
    /// `x-specjet.cache`; its key prefix, when the spec names none, is derived from the
    /// API's title (and the rate limiter's is the same).
    pub cache: CacheSettings,
    /// `x-specjet.rate-limit`, but for its named policies.
    pub rate_limit: RateLimitSettings,
    /// `x-specjet.rate-limit.policies`: named policies, which operations `use` and share a
    /// budget of.
    pub rate_limit_policies: std::collections::BTreeMap<String, RateLimitPolicy>,
    /// `x-specjet.compression`.
    pub compression: CompressionSettings,
    /// `x-specjet.max-in-flight`: requests handled at once; above it, 503 at once.
    pub max_in_flight: Option<u64>,
    /// `x-specjet.database`: the service has a database pool (`None`: it has none).
    pub database: Option<DatabaseSettings>,
    /// `x-specjet.http-client`: the service has a pooled HTTP client (`None`: it has none).
    pub http_client: Option<HttpClientSettings>,
    /// `x-specjet.batch`: the batch endpoint of the operations in a batch group.
    pub batch: BatchSettings,
    /// The path every operation is served under: `x-specjet.base-path`, else the path of the
    /// first `servers` URL; empty for none.
    pub base_path: String,
    /// `x-specjet.docs`: where the service serves its document and its interactive docs.
    pub docs: DocsSettings,
    /// `x-specjet.cors`: which browser origins may call the service (`None`: no CORS).
    pub cors: Option<CorsSettings>,
    /// `x-specjet.validation`: how requests are checked against the spec's schemas.
    pub validation: ValidationSettings,
    /// `x-specjet.types`: serde traits the handlers need beyond those the service uses.
    pub types: TypeSettings,
    /// `x-specjet.client: true` (or `specjet generate --client`): the module also holds a
    /// typed client, and the operations' types derive both serde traits for it.
    pub client: bool,
    /// `specjet client`: the module is the client alone (no server, no axum): types, each
    /// operation's request and responses without their HTTP reading and writing, and
    /// `Client`.
    pub client_only: bool,
    /// `x-specjet.server`: how connections are held and how a shutdown proceeds (`None`
    /// fields: the runtime's defaults).
    pub server: ServerSettings,
    /// `x-specjet.security`: the built-in verifiers of the spec's schemes, and the limit on
    /// failed verifications per client address.
    pub security: SecuritySettings,
}

pub use specjet_model::cache::Backend as CacheBackend;
use specjet_model::Owned;

/// `x-specjet.database`, with the migrations read from its folder.
pub type DatabaseSettings = specjet_model::DatabaseSettings<Vec<MigrationFile>>;
pub use specjet_model::database::Backend;
pub use specjet_model::rate_limit::Backend as RateLimitBackend;
pub use specjet_model::{
    BatchSettings, BuiltIn, CacheSettings, CompressionSettings, CorsSettings, HttpClientSettings,
    JwtSettings, KeySource, OnBackendError, RateLimitSettings, SchemeSettings, SecuritySettings,
    ServerSettings,
};

/// A scheme of `components.securitySchemes`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecurityScheme {
    /// Its name in `securitySchemes`.
    pub name: String,
    /// The trait method that verifies its credentials (`verify_<name>`).
    pub method: String,
    /// What credential it takes.
    pub kind: SchemeKind,
    /// `description`.
    pub description: Option<String>,
    /// Whether `x-specjet.security` gives it a built-in verifier (the trait method then has a
    /// default body that calls it).
    pub builtin: bool,
}

/// What credential a scheme takes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SchemeKind {
    /// `http` `bearer`, `oauth2`, `openIdConnect`.
    Bearer {
        /// The spec's `type` (and `scheme`), for docs: `http bearer`, `oauth2`, ...
        source: &'static str,
    },
    /// `http` `basic`.
    Basic,
    /// Another `http` scheme (`digest`, ...).
    OtherHttp {
        /// Its name as a challenge writes it.
        scheme: String,
    },
    /// `apiKey`.
    ApiKey {
        /// `in`.
        location: KeyLocation,
        /// `name`.
        name: String,
    },
    /// `mutualTLS`.
    MutualTls,
}

/// Where an API key is sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyLocation {
    /// `header`.
    Header,
    /// `query`.
    Query,
    /// `cookie`.
    Cookie,
}

/// One requirement object of `security`: each scheme (an index into
/// [`Api::security_schemes`], `None` for a name that is not a scheme of the spec, which no
/// request can satisfy) with the scopes it requires. Empty: anonymous callers pass.
pub type SecurityRequirement = Vec<(Option<usize>, Vec<String>)>;

/// `x-specjet.types`: `serialize` and `deserialize`, each `all` or a list of component schema
/// names whose types derive that trait whatever the operations do with them (a response type
/// the handlers also read from a JSON column, a request type they forward).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct TypeSettings {
    /// Types that derive `Serialize` besides those a response or parameter holds.
    pub serialize: AlsoDerive,
    /// Types that derive `Deserialize` besides those a request holds.
    pub deserialize: AlsoDerive,
}

/// Which types derive a serde trait they would not need.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AlsoDerive {
    /// The types of these component schemas (by their name in `components/schemas`), and
    /// everything they hold.
    Schemas(Vec<String>),
    /// Every type.
    All,
}

impl Default for AlsoDerive {
    fn default() -> Self {
        AlsoDerive::Schemas(Vec::new())
    }
}

/// `x-specjet.validation`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValidationSettings {
    /// `formats`: strings are checked against their `format` where the check is cheap and
    /// sure ([`CHECKED_FORMATS`]); `false` leaves every format an annotation.
    pub formats: bool,
}

impl Default for ValidationSettings {
    fn default() -> Self {
        ValidationSettings { formats: true }
    }
}

/// The formats the runtime checks (`specjet::contract::CHECKED_FORMATS`, the same list): a
/// parameter with one of them is checked against its schema.
pub const CHECKED_FORMATS: [&str; 5] = ["date", "date-time", "uuid", "ipv4", "ipv6"];

pub use specjet_model::DocsSettings;

impl Api {
    /// The operations a handler answers: every one but those composed by `x-fan-out`.
    pub fn handled_operations(&self) -> impl Iterator<Item = &Operation> {
        self.operations.iter().filter(|op| op.fan_out.is_none())
    }
}

/// One migration (`specjet_model::database::Migration`), as the generator reads it.
pub type Migration = specjet_model::database::Migration<Owned>;

/// One file of the migrations folder, `<version>_<description>.sql`, and where it was read
/// from (a change regenerates).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MigrationFile {
    /// The migration it holds.
    pub migration: Migration,
    /// Its path.
    pub path: std::path::PathBuf,
}

/// One window of a rate limit: `limit` per `period`, bursts of `burst`.
pub use specjet_model::Window as RateWindow;

/// What a rate-limit budget is kept per.
pub type RateKey = specjet_model::KeyPart<Owned>;

/// A rate limit (`x-rate-limit`, or a named root policy, resolved: a root policy's name is
/// shared by every operation that uses it, with the cost of its own call).
pub type RateLimitPolicy = specjet_model::RateLimitPolicy<Owned>;

/// `adaptive: {limit: 20/s, when: {in-flight: 200, p95-above: 300ms}, hold: 5s}`.
pub type AdaptiveLimit = specjet_model::AdaptiveLimit<Owned>;

/// Whose answer a cached entry is (`scope`; `Auto`: private when the operation is secured or
/// the request carries credentials).
pub use specjet_model::cache::Scope as CacheScope;

/// A cache tag template (`pet:{petId}`), parsed by the model's grammar.
pub type TagTemplate = specjet_model::tag::TagTemplate<Owned>;

/// One operation's caching policy (`x-cache`).
pub type CachePolicy = specjet_model::CachePolicy<Owned>;

/// An operation whose cached entries a write drops, and the path parameters they share.
pub type InvalidationTarget = specjet_model::InvalidationTarget<Owned>;

/// Everything the annotations say of how one operation is served (`specjet_model::Policies`,
/// in the generator's form).
pub type Policies = specjet_model::Policies<Owned>;

/// Which generated module a type lives in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Module {
    /// `types`: component schemas and everything they reference.
    Types,
    /// `operations::<op>`: types inline in one operation.
    Operation(usize),
}

/// A named Rust type.
#[derive(Debug, Clone, PartialEq)]
pub struct TypeDef {
    /// The Rust name, unique in its module.
    pub name: String,
    /// The module it is generated in.
    pub module: Module,
    /// The schema's description (else its title).
    pub docs: Option<String>,
    /// Where in the spec it comes from (for diagnostics and comments).
    pub origin: String,
    /// What the type is.
    pub kind: TypeKind,
    /// Which of serde's traits it implements: only those the service uses.
    pub serde: SerdeUse,
}

/// The serde traits a type implements. A server reads requests and writes responses, so a type
/// only a response holds needs no `Deserialize`, by far the larger of the two to compile (half
/// of a crate as large as Stripe's); a type no operation uses keeps both, for the handlers' own
/// use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SerdeUse {
    /// `Serialize`: a response or a parameter (checked as JSON against its schema) holds it.
    pub serialize: bool,
    /// `Deserialize`: a request (a parameter or a body) holds it.
    pub deserialize: bool,
}

impl SerdeUse {
    /// Both traits.
    pub const BOTH: SerdeUse = SerdeUse {
        serialize: true,
        deserialize: true,
    };
}

/// The shape of a named type.
#[derive(Debug, Clone, PartialEq)]
pub enum TypeKind {
    /// An object.
    Struct {
        /// The properties, and the parts flattened into the struct.
        fields: Vec<Field>,
        /// `additionalProperties` beside named properties: a flattened map.
        additional: Option<TypeRef>,
        /// `additionalProperties: false`.
        deny_unknown: bool,
    },
    /// A string enum.
    StringEnum {
        /// The allowed values.
        variants: Vec<EnumVariant>,
    },
    /// An integer enum.
    IntEnum {
        /// The allowed values.
        variants: Vec<IntVariant>,
    },
    /// `oneOf`/`anyOf`: tagged by a discriminator property, or tried in order.
    Union {
        /// The alternatives, in spec order.
        variants: Vec<UnionVariant>,
        /// The discriminator's property name.
        discriminator: Option<String>,
    },
    /// `pub type Name = ...;`
    Alias(TypeRef),
    /// `pub struct Name(pub ...);`, for aliases that refer to themselves.
    Newtype(TypeRef),
}

/// A field of a struct: one property of an object schema.
#[derive(Debug, Clone, PartialEq)]
pub struct Field {
    /// The Rust field name.
    pub name: String,
    /// The property name in JSON.
    pub wire: String,
    /// The value's type (`Option` is added by codegen from `required` and `nullable`).
    pub ty: TypeRef,
    /// Listed in the schema's `required` (and neither `readOnly` nor `writeOnly`).
    pub required: bool,
    /// `null` is allowed.
    pub nullable: bool,
    /// The property's description or title (else the referenced schema's).
    pub docs: Option<String>,
    /// Used when an optional property is absent.
    pub default: Option<DefaultValue>,
    /// Members of an object-shaped part (a union beside properties, an `allOf` part that is
    /// not a plain object) spliced into this struct with `#[serde(flatten)]`.
    pub flatten: bool,
}

/// A schema's `default`, checked against the field's type.
#[derive(Debug, Clone, PartialEq)]
pub enum DefaultValue {
    /// A boolean.
    Bool(bool),
    /// An integer.
    Int(i64),
    /// A number.
    Float(f64),
    /// A string.
    Str(String),
    /// A variant of a string enum: its Rust name and its string in JSON.
    Variant {
        /// The Rust variant name.
        name: String,
        /// The string the spec writes.
        wire: String,
    },
}

impl DefaultValue {
    /// The value as the spec writes it.
    pub fn display(&self) -> String {
        match self {
            DefaultValue::Bool(b) => b.to_string(),
            DefaultValue::Int(i) => i.to_string(),
            DefaultValue::Float(f) => f.to_string(),
            DefaultValue::Str(s) | DefaultValue::Variant { wire: s, .. } => format!("{s:?}"),
        }
    }
}

/// One value of a string enum.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EnumVariant {
    /// The Rust variant name.
    pub name: String,
    /// The string in JSON.
    pub wire: String,
    /// Doc text for the variant (lowering sets none yet).
    pub docs: Option<String>,
}

/// One value of an integer enum.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IntVariant {
    /// The Rust variant name.
    pub name: String,
    /// The integer in JSON.
    pub value: i64,
}

/// One alternative of a union.
#[derive(Debug, Clone, PartialEq)]
pub struct UnionVariant {
    /// The Rust variant name.
    pub name: String,
    /// The alternative's type.
    pub ty: TypeRef,
    /// The discriminator values that select this variant.
    pub tags: Vec<String>,
}

/// A Rust type expression.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum TypeRef {
    /// `bool`.
    Bool,
    /// `i32`.
    I32,
    /// `i64`.
    I64,
    /// `u32`.
    U32,
    /// `u64`.
    U64,
    /// `f32`.
    F32,
    /// `f64`.
    F64,
    /// `String`.
    String,
    /// Raw bytes (`bytes::Bytes`).
    Bytes,
    /// Any JSON value.
    Value,
    /// An array.
    Vec(Box<TypeRef>),
    /// A map from strings.
    Map(Box<TypeRef>),
    /// An optional value.
    Option(Box<TypeRef>),
    /// A boxed value, where a type would otherwise contain itself.
    Box(Box<TypeRef>),
    /// A type of [`Api::types`].
    Named(TypeId),
}

impl TypeRef {
    /// `Option<inner>`.
    pub fn option(inner: TypeRef) -> TypeRef {
        TypeRef::Option(Box::new(inner))
    }

    /// Whether this is an `Option`.
    pub fn is_option(&self) -> bool {
        matches!(self, TypeRef::Option(_))
    }

    /// The named type it holds, under any arrays, maps, options and boxes.
    pub fn named(&self) -> Option<TypeId> {
        match self {
            TypeRef::Vec(inner)
            | TypeRef::Map(inner)
            | TypeRef::Option(inner)
            | TypeRef::Box(inner) => inner.named(),
            TypeRef::Named(id) => Some(*id),
            _ => None,
        }
    }
}

/// HTTP methods an operation can have.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Method {
    /// `GET`.
    Get,
    /// `PUT`.
    Put,
    /// `POST`.
    Post,
    /// `DELETE`.
    Delete,
    /// `OPTIONS`.
    Options,
    /// `HEAD`.
    Head,
    /// `PATCH`.
    Patch,
    /// `TRACE`.
    Trace,
}

impl Method {
    /// Every method, in the order the OpenAPI path item object lists them.
    pub const ALL: [Method; 8] = [
        Method::Get,
        Method::Put,
        Method::Post,
        Method::Delete,
        Method::Options,
        Method::Head,
        Method::Patch,
        Method::Trace,
    ];

    /// The path item key: `get`, `put`, ...
    pub fn as_str(self) -> &'static str {
        match self {
            Method::Get => "get",
            Method::Put => "put",
            Method::Post => "post",
            Method::Delete => "delete",
            Method::Options => "options",
            Method::Head => "head",
            Method::Patch => "patch",
            Method::Trace => "trace",
        }
    }
}

/// One operation: a method on a path.
#[derive(Debug, Clone, PartialEq)]
pub struct Operation {
    /// `operationId`, or one made from method and path.
    pub id: String,
    /// The trait method and module name.
    pub name: String,
    /// The HTTP method.
    pub method: Method,
    /// The path as written in the spec.
    pub path: String,
    /// `summary`.
    pub summary: Option<String>,
    /// `description`.
    pub description: Option<String>,
    /// `deprecated: true`.
    pub deprecated: bool,
    /// Parameters of the operation and its path item.
    pub params: Vec<Param>,
    /// `requestBody`.
    pub body: Option<RequestBody>,
    /// One per status key, ordered by status.
    pub responses: Vec<Response>,
    /// Index into [`Api::routes`].
    pub route: usize,
    /// How this operation reads its path parameters from the route's captures.
    pub path_captures: Vec<Capture>,
    /// Whether the operation requires credentials: it has `security` (its own or the
    /// root's) and none of its alternatives is empty.
    pub secured: bool,
    /// Its `security` (or the root's): alternatives, any of which lets a request in; empty
    /// for an operation open to all.
    pub security: Vec<SecurityRequirement>,
    /// How the operation is served: every `x-` annotation of it, in one value.
    pub policies: Policies,
    /// `x-fan-out`: the operation is answered by calling these operations at once; it has no
    /// handler of its own.
    pub fan_out: Option<FanOut>,
    /// `tags`: the groups the spec files the operation under.
    pub tags: Vec<String>,
    /// `x-slo`: what the operation promises, for the latency buckets, the dashboard and the
    /// alerts.
    pub slo: Option<Slo>,
    /// `x-load: {weight: N}`: the operation's share of a load test's mix (`None`: the
    /// default share, 1; `0`: never called).
    pub load_weight: Option<u32>,
}

/// `x-slo`: an operation's service-level objectives.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Slo {
    /// Latency objectives, by ascending percentile.
    pub latency: Vec<LatencyObjective>,
    /// `availability`: the percentage of requests answered without a server error (5xx).
    pub availability: Option<f64>,
}

/// `p95: 200ms`: 95% of requests are answered within 200 ms.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LatencyObjective {
    /// The percentile, above 0 and below 100 (`95`, `99.9`).
    pub percentile: f64,
    /// The latency that share of requests stays within.
    pub threshold_ms: u64,
}

impl LatencyObjective {
    /// The threshold in seconds, as the latency histogram's `le` label writes it.
    pub fn threshold_seconds(&self) -> f64 {
        self.threshold_ms as f64 / 1000.0
    }

    /// `p95`, `p99.9`.
    pub fn name(&self) -> String {
        format!("p{}", self.percentile)
    }
}

/// `x-fan-out`: an operation composed of others, called concurrently.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FanOut {
    /// One per field of the answer, in the annotation's order.
    pub parts: Vec<FanOutPart>,
}

/// One part of a composite operation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FanOutPart {
    /// The field of the composite's answer that holds the part's answer.
    pub field: String,
    /// The operation called (an index into [`Api::operations`]).
    pub operation: usize,
    /// `x-fan-out-optional` names it: a failure makes the field null instead of failing the
    /// composite.
    pub optional: bool,
    /// The part's parameters, each taken by name from the composite's request.
    pub args: Vec<FanOutArg>,
}

/// A parameter of a part, and where the composite's request holds its value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FanOutArg {
    /// The part's parameter name.
    pub name: String,
    /// Whether it goes into the part's path (else its query).
    pub in_path: bool,
    /// Where the composite has it.
    pub from: ArgSource,
}

/// Where a composite's request holds a value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ArgSource {
    /// A path capture, by its route key.
    Path(String),
    /// A query parameter, by name.
    Query(String),
}

/// The provided methods of every generated `Api` trait (an impl may write them by hand; no
/// operation's method may take their names).
pub const PROVIDED_HOOKS: [&str; 3] = ["policies", "composed_by_hand", "reject"];

pub use specjet_model::paths::BUILTIN_PATHS;

impl ServiceSettings {
    /// The paths the router would serve itself (its builtin endpoints, the document and the
    /// docs) that an operation of `routes` serves: the router leaves them to the API. The
    /// docs are taken by any route under their path (their assets live there).
    pub fn paths_taken_by(&self, routes: &[Route]) -> Vec<String> {
        let served = |path: &str| routes.iter().any(|route| route.axum_path == path);
        let mut taken: Vec<String> = BUILTIN_PATHS
            .into_iter()
            .filter(|path| served(path))
            .map(str::to_owned)
            .collect();
        for path in [self.docs.openapi.clone(), self.docs.openapi_yaml.clone()]
            .into_iter()
            .flatten()
        {
            if served(&path) {
                taken.push(path);
            }
        }
        if let Some(ui) = &self.docs.ui {
            let under = format!("{ui}/");
            if routes
                .iter()
                .any(|route| route.axum_path == *ui || route.axum_path.starts_with(&under))
            {
                taken.push(ui.clone());
            }
        }
        taken
    }
}

/// Whether any of `responses` is a stream (events, items): never cached or batched, and
/// counted against `streams-per-caller` while it is held open.
pub fn answers_with_stream(responses: &[Response]) -> bool {
    responses
        .iter()
        .any(|response| response.contents.iter().any(|c| c.kind.is_stream()))
}

impl Operation {
    /// The operation's variant of the generated `OperationId` enum.
    pub fn id_variant(&self) -> String {
        crate::naming::type_name(&self.name)
    }
}

/// One templated path segment: the route key it is captured under and how it splits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Capture {
    /// The route key the segment is captured under.
    pub key: String,
    /// What the segment is made of, in order.
    pub pieces: Vec<Piece>,
}

/// A part of a templated path segment, the model's.
pub type Piece = specjet_model::paths::Piece<String>;

impl Capture {
    /// Whether the segment is one parameter and nothing else.
    pub fn is_whole(&self) -> bool {
        matches!(self.pieces.as_slice(), [Piece::Param(_)])
    }
}

/// Where a parameter is read from (`in`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ParamLocation {
    /// A path segment.
    Path,
    /// The query string.
    Query,
    /// A request header.
    Header,
    /// A cookie.
    Cookie,
}

impl ParamLocation {
    /// The spec's name for it: `path`, `query`, `header`, `cookie`.
    pub fn as_str(self) -> &'static str {
        match self {
            ParamLocation::Path => "path",
            ParamLocation::Query => "query",
            ParamLocation::Header => "header",
            ParamLocation::Cookie => "cookie",
        }
    }
}

/// How a parameter value is written in the request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ParamStyle {
    /// One plain value.
    Scalar,
    /// An array as repeated keys.
    Exploded,
    /// An array as one value split by a delimiter.
    Delimited(char),
    /// An object as `name[key]=value`.
    DeepObject,
    /// An object whose properties are top-level query keys.
    FormObject,
    /// An object as one value of comma-separated keys and values (`R,100,G,200`).
    DelimitedObject,
    /// A JSON document (`content: application/json`).
    Json,
}

/// One parameter of an operation.
#[derive(Debug, Clone, PartialEq)]
pub struct Param {
    /// The name in the request.
    pub wire: String,
    /// The field of the generated `Request`.
    pub field: String,
    /// Where it is read from.
    pub location: ParamLocation,
    /// The element type for arrays; the value type otherwise (never `Option`).
    pub ty: TypeRef,
    /// Path parameters always are; others when the spec says `required: true`.
    pub required: bool,
    /// How the value is written.
    pub style: ParamStyle,
    /// Used when an optional scalar parameter is absent.
    pub default: Option<DefaultValue>,
    /// Its schema bounds the value beyond its type (`minimum`, `maxLength`, `pattern`, ...):
    /// the router checks it against the schema before the handler runs.
    pub constrained: bool,
    /// The parameter's description.
    pub docs: Option<String>,
}

impl Param {
    /// How a client writes it, as the server reads it.
    pub fn written(&self) -> Written {
        match (self.location, self.style) {
            (ParamLocation::Path, _) => Written::Path,
            (ParamLocation::Query, ParamStyle::Scalar) => Written::Query,
            (ParamLocation::Query, ParamStyle::Exploded) => Written::QueryExploded,
            (ParamLocation::Query, ParamStyle::Delimited(delimiter)) => {
                Written::QueryDelimited(delimiter)
            }
            (ParamLocation::Query, ParamStyle::DeepObject) => Written::QueryDeepObject,
            (ParamLocation::Query, ParamStyle::FormObject) => Written::QueryFormObject,
            (ParamLocation::Query, ParamStyle::DelimitedObject) => Written::QueryDelimitedObject,
            (ParamLocation::Query, ParamStyle::Json) => Written::QueryJson,
            (ParamLocation::Header, ParamStyle::Json) => Written::HeaderJson,
            (ParamLocation::Header, ParamStyle::Exploded | ParamStyle::Delimited(_)) => {
                Written::HeaderDelimited
            }
            (ParamLocation::Header, _) => Written::Header,
            (ParamLocation::Cookie, ParamStyle::Exploded | ParamStyle::Delimited(_)) => {
                Written::CookieDelimited
            }
            (ParamLocation::Cookie, _) => Written::Cookie,
        }
    }
}

pub use specjet_model::params::Written;

/// An operation's `requestBody`.
#[derive(Debug, Clone, PartialEq)]
pub struct RequestBody {
    /// `required: true`.
    pub required: bool,
    /// The enum over media types, when there are several.
    pub media_enum: Option<String>,
    /// The body's description.
    pub docs: Option<String>,
    /// One per media type, in spec order.
    pub contents: Vec<Content>,
}

/// One media type of a body.
#[derive(Debug, Clone, PartialEq)]
pub struct Content {
    /// The media type as written in the spec.
    pub media_type: String,
    /// Variant name when a body has several media types.
    pub variant: String,
    /// How the body is read and written.
    pub kind: BodyKind,
}

/// How a body of one media type is read and written.
#[derive(Debug, Clone, PartialEq)]
pub enum BodyKind {
    /// JSON (`application/json`, `*+json`), as this type.
    Json(TypeRef),
    /// `application/x-www-form-urlencoded`, as this type.
    Form(TypeRef),
    /// `multipart/*`, as a `MultipartForm`.
    Multipart,
    /// A `multipart/*` request body that uploads files (a property of its schema is binary),
    /// as a `MultipartStream` read part by part as it arrives.
    MultipartUpload,
    /// Text, as a `String`.
    Text,
    /// Anything else, as raw bytes.
    Binary,
    /// A response of server-sent events (`text/event-stream`) whose data is this type (the
    /// media type's `itemSchema`, else its `schema`; text without one), as an `EventStream`.
    Events(TypeRef),
    /// A response of items (`application/x-ndjson`, `application/jsonl`,
    /// `application/json-seq`) of this type, as an `ItemStream`.
    Items(TypeRef, Framing),
    /// A response of a binary media type, as a `ByteStream` (whole bytes convert into one).
    Bytes,
    /// A request body of items (`application/x-ndjson`, `application/jsonl`,
    /// `application/json-seq`) of this type, as an `ItemReader` that parses them as they
    /// arrive.
    ItemUpload(TypeRef, Framing),
}

/// How the items of an item stream follow one another.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Framing {
    /// One JSON text per line.
    Lines,
    /// Each JSON text after a record separator (RFC 7464).
    RecordSeparated,
}

impl BodyKind {
    /// The type of the values it holds (a JSON or form body, or the items of a stream).
    pub fn value_type(&self) -> Option<&TypeRef> {
        match self {
            BodyKind::Json(ty)
            | BodyKind::Form(ty)
            | BodyKind::Events(ty)
            | BodyKind::Items(ty, _)
            | BodyKind::ItemUpload(ty, _) => Some(ty),
            BodyKind::Multipart
            | BodyKind::MultipartUpload
            | BodyKind::Text
            | BodyKind::Binary
            | BodyKind::Bytes => None,
        }
    }

    /// Whether it is a stream that may never end (events, items): never cached or batched.
    /// (Bytes are cached as other answers are: a download ends.)
    pub fn is_stream(&self) -> bool {
        matches!(self, BodyKind::Events(_) | BodyKind::Items(..))
    }
}

/// Which statuses a response covers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum StatusSpec {
    /// One status code.
    Code(u16),
    /// `2XX`: the class digit.
    Range(u8),
    /// `default`: any status not listed.
    Default,
}

/// One response of an operation.
#[derive(Debug, Clone, PartialEq)]
pub struct Response {
    /// The statuses it covers.
    pub status: StatusSpec,
    /// Its variant of the operation's `Response` enum.
    pub variant: String,
    /// The response's description.
    pub docs: Option<String>,
    /// The enum over media types, when there are several.
    pub media_enum: Option<String>,
    /// One per media type, in spec order; empty when there is no body.
    pub contents: Vec<Content>,
    /// The headers it declares (`Content-Type` excepted).
    pub headers: Vec<ResponseHeader>,
}

/// A header a response declares.
#[derive(Debug, Clone, PartialEq)]
pub struct ResponseHeader {
    /// The header name, lower-case.
    pub wire: String,
    /// The field of the response variant.
    pub field: String,
    /// The value's type.
    pub ty: TypeRef,
    /// `required: true`.
    pub required: bool,
    /// The header's description.
    pub docs: Option<String>,
}

/// One axum route: a path shape and, per method, the operations sharing it (in spec order;
/// several only when their paths differ in literal affixes or only in parameter names).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route {
    /// The path as axum matches it.
    pub axum_path: String,
    /// Per method, the operations (indices into [`Api::operations`]) served there.
    pub methods: Vec<(Method, Vec<usize>)>,
}
