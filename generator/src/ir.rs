//! The intermediate representation: plain data describing the API, with no OpenAPI types in
//! it. Everything after lowering (code generation, summaries, diffs) reads only this.

/// Index of a type in [`Api::types`].
pub type TypeId = usize;

/// The whole API.
#[derive(Debug, Clone, PartialEq)]
pub struct Api {
    pub title: String,
    pub version: String,
    pub description: Option<String>,
    pub operations: Vec<Operation>,
    pub types: Vec<TypeDef>,
    pub routes: Vec<Route>,
    /// The root `x-specjet` settings.
    pub settings: ServiceSettings,
}

impl Api {
    /// The rate limit an operation is served with, a named policy resolved.
    pub fn rate_limit_of(&self, op: &Operation) -> Option<RateLimitPolicy> {
        match op.policies.rate_limit.as_ref()? {
            RateLimitUse::Own(policy) => Some(policy.clone()),
            RateLimitUse::Named { name, cost } => {
                let policy = self.settings.rate_limit.policies.get(name)?;
                Some(RateLimitPolicy {
                    cost: *cost,
                    ..policy.clone()
                })
            }
        }
    }
}

/// Service-wide settings (`x-specjet`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ServiceSettings {
    /// The document has a root `x-specjet` key.
    pub opted_in: bool,
    pub cache: CacheSettings,
    pub rate_limit: RateLimitSettings,
    pub compression: CompressionSettings,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum RateLimitBackend {
    Memory,
    /// Redis when `REDIS_URL` is set, else in process.
    #[default]
    Redis,
}

/// What a request meets when the Redis budget does not answer.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum OnBackendError {
    #[default]
    Local,
    Allow,
    Deny,
}

/// Service-wide rate-limit settings (`x-specjet.rate-limit`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RateLimitSettings {
    pub backend: RateLimitBackend,
    pub on_backend_error: OnBackendError,
    /// Addresses or CIDR ranges.
    pub trusted_proxies: Vec<String>,
    pub client_ip_header: Option<String>,
    /// Named policies (`policies`), which operations `use` and share a budget of.
    pub policies: std::collections::BTreeMap<String, RateLimitPolicy>,
}

/// One window of a rate limit: `limit` per `period_ms`, bursts of `burst`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateWindow {
    pub limit: u32,
    pub period_ms: u64,
    pub burst: u32,
}

/// What a rate-limit budget is kept per.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RateKey {
    Ip,
    Principal,
    Global,
    Header(String),
    Path(String),
    Query(String),
}

/// An operation's rate limit: its own, or a root policy's (whose budget it shares), referenced
/// by name and stored once in [`RateLimitSettings::policies`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RateLimitUse {
    Own(RateLimitPolicy),
    /// `use: <name>`, with the cost of one call (the policy's unless set beside `use`).
    Named {
        name: String,
        cost: u32,
    },
}

/// A rate limit (`x-rate-limit`, or a named root policy).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RateLimitPolicy {
    /// A root policy's name (its budget is shared), else the operation's id.
    pub name: String,
    pub windows: Vec<RateWindow>,
    /// Empty: principal when secured, else IP.
    pub key: Vec<RateKey>,
    pub cost: u32,
}

/// Service-wide compression settings (`x-specjet.compression`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CompressionSettings {
    pub br: bool,
    pub zstd: bool,
    pub gzip: bool,
    pub min_size: u16,
    pub max_request_bytes: u64,
}

impl CompressionSettings {
    pub fn enabled(&self) -> bool {
        self.br || self.zstd || self.gzip
    }
}

impl Default for CompressionSettings {
    fn default() -> Self {
        CompressionSettings {
            br: true,
            zstd: true,
            gzip: true,
            min_size: 1024,
            max_request_bytes: 2 << 20,
        }
    }
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum CacheBackend {
    Memory,
    Redis,
    #[default]
    Tiered,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CacheSettings {
    pub backend: CacheBackend,
    pub capacity_bytes: u64,
    /// `None`: derived from the API title.
    pub key_prefix: Option<String>,
}

impl Default for CacheSettings {
    fn default() -> Self {
        CacheSettings {
            backend: CacheBackend::Tiered,
            capacity_bytes: 64 << 20,
            key_prefix: None,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CacheScope {
    Public,
    Private,
}

/// The statuses cached when a policy names none (`status`).
pub const DEFAULT_CACHE_STATUSES: [u16; 3] = [200, 203, 204];

/// One operation's caching policy (`x-cache`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CachePolicy {
    pub ttl_ms: u64,
    pub stale_while_revalidate_ms: u64,
    /// `None`: private when the operation is secured or the request carries credentials.
    pub scope: Option<CacheScope>,
    /// Lower-case request header names.
    pub vary: Vec<String>,
    pub statuses: Vec<u16>,
}

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
    pub name: String,
    pub module: Module,
    pub docs: Option<String>,
    /// Where in the spec it comes from (for diagnostics and comments).
    pub origin: String,
    pub kind: TypeKind,
}

#[derive(Debug, Clone, PartialEq)]
pub enum TypeKind {
    /// An object.
    Struct {
        fields: Vec<Field>,
        /// `additionalProperties` beside named properties: a flattened map.
        additional: Option<TypeRef>,
        /// `additionalProperties: false`.
        deny_unknown: bool,
    },
    /// A string enum.
    StringEnum { variants: Vec<EnumVariant> },
    /// An integer enum.
    IntEnum { variants: Vec<IntVariant> },
    /// `oneOf`/`anyOf`: tagged by a discriminator property, or tried in order.
    Union {
        variants: Vec<UnionVariant>,
        discriminator: Option<String>,
    },
    /// `pub type Name = ...;`
    Alias(TypeRef),
    /// `pub struct Name(pub ...);`, for aliases that refer to themselves.
    Newtype(TypeRef),
}

#[derive(Debug, Clone, PartialEq)]
pub struct Field {
    pub name: String,
    pub wire: String,
    pub ty: TypeRef,
    pub required: bool,
    pub nullable: bool,
    pub docs: Option<String>,
    pub default: Option<DefaultValue>,
    /// Members of an object-shaped part (a union beside properties, an `allOf` part that is
    /// not a plain object) spliced into this struct with `#[serde(flatten)]`.
    pub flatten: bool,
}

#[derive(Debug, Clone, PartialEq)]
pub enum DefaultValue {
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(String),
    /// A variant of a string enum.
    Variant(String),
}

impl DefaultValue {
    /// The value as the spec writes it.
    pub fn display(&self) -> String {
        match self {
            DefaultValue::Bool(b) => b.to_string(),
            DefaultValue::Int(i) => i.to_string(),
            DefaultValue::Float(f) => f.to_string(),
            DefaultValue::Str(s) | DefaultValue::Variant(s) => format!("{s:?}"),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EnumVariant {
    pub name: String,
    pub wire: String,
    pub docs: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IntVariant {
    pub name: String,
    pub value: i64,
}

#[derive(Debug, Clone, PartialEq)]
pub struct UnionVariant {
    pub name: String,
    pub ty: TypeRef,
    /// The discriminator values that select this variant.
    pub tags: Vec<String>,
}

/// A Rust type expression.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum TypeRef {
    Bool,
    I32,
    I64,
    U32,
    U64,
    F32,
    F64,
    String,
    Bytes,
    /// Any JSON value.
    Value,
    Vec(Box<TypeRef>),
    /// A map from strings.
    Map(Box<TypeRef>),
    Option(Box<TypeRef>),
    Box(Box<TypeRef>),
    Named(TypeId),
}

impl TypeRef {
    pub fn option(inner: TypeRef) -> TypeRef {
        TypeRef::Option(Box::new(inner))
    }

    pub fn is_option(&self) -> bool {
        matches!(self, TypeRef::Option(_))
    }
}

/// HTTP methods an operation can have.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Method {
    Get,
    Put,
    Post,
    Delete,
    Options,
    Head,
    Patch,
    Trace,
}

impl Method {
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

#[derive(Debug, Clone, PartialEq)]
pub struct Operation {
    /// `operationId`, or one made from method and path.
    pub id: String,
    /// The trait method and module name.
    pub name: String,
    pub method: Method,
    /// The path as written in the spec.
    pub path: String,
    pub summary: Option<String>,
    pub description: Option<String>,
    pub deprecated: bool,
    pub params: Vec<Param>,
    pub body: Option<RequestBody>,
    pub responses: Vec<Response>,
    /// Index into [`Api::routes`].
    pub route: usize,
    /// How this operation reads its path parameters from the route's captures.
    pub path_captures: Vec<Capture>,
    /// Whether the operation requires credentials (`security`).
    pub secured: bool,
    /// How the operation is served: every `x-` annotation of it, in one value.
    pub policies: Policies,
}

/// Everything the annotations say of how one operation is served. A new per-operation
/// annotation (a timeout, a batch group, fan-out) is one more field here, parsed by the
/// vocabulary and written into the operations table by codegen.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Policies {
    /// `x-cache` (GET and HEAD only).
    pub cache: Option<CachePolicy>,
    /// `x-cache-invalidates`: operations (indices) whose cached entries this one drops when it
    /// succeeds.
    pub invalidates: Vec<usize>,
    /// `x-rate-limit`.
    pub rate_limit: Option<RateLimitUse>,
    /// `x-compress`: whether responses may be compressed (default yes).
    pub compress: bool,
}

impl Default for Policies {
    fn default() -> Self {
        Policies {
            cache: None,
            invalidates: Vec::new(),
            rate_limit: None,
            compress: true,
        }
    }
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
    pub key: String,
    pub pieces: Vec<Piece>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Piece {
    Literal(String),
    /// A path parameter, by its wire name.
    Param(String),
}

impl Capture {
    /// Whether the segment is one parameter and nothing else.
    pub fn is_whole(&self) -> bool {
        matches!(self.pieces.as_slice(), [Piece::Param(_)])
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ParamLocation {
    Path,
    Query,
    Header,
    Cookie,
}

impl ParamLocation {
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

#[derive(Debug, Clone, PartialEq)]
pub struct Param {
    pub wire: String,
    pub field: String,
    pub location: ParamLocation,
    /// The element type for arrays; the value type otherwise (never `Option`).
    pub ty: TypeRef,
    pub required: bool,
    pub style: ParamStyle,
    /// Used when an optional scalar parameter is absent.
    pub default: Option<DefaultValue>,
    pub docs: Option<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct RequestBody {
    pub required: bool,
    /// The enum over media types, when there are several.
    pub media_enum: Option<String>,
    pub docs: Option<String>,
    pub contents: Vec<Content>,
}

/// One media type of a body.
#[derive(Debug, Clone, PartialEq)]
pub struct Content {
    pub media_type: String,
    /// Variant name when a body has several media types.
    pub variant: String,
    pub kind: BodyKind,
}

#[derive(Debug, Clone, PartialEq)]
pub enum BodyKind {
    Json(TypeRef),
    Form(TypeRef),
    Multipart,
    Text,
    Binary,
}

/// Which statuses a response covers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum StatusSpec {
    Code(u16),
    /// `2XX`: the class digit.
    Range(u8),
    Default,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Response {
    pub status: StatusSpec,
    pub variant: String,
    pub docs: Option<String>,
    /// The enum over media types, when there are several.
    pub media_enum: Option<String>,
    pub contents: Vec<Content>,
    pub headers: Vec<ResponseHeader>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ResponseHeader {
    pub wire: String,
    pub field: String,
    pub ty: TypeRef,
    pub required: bool,
    pub docs: Option<String>,
}

/// One axum route: a path shape and, per method, the operations sharing it (in spec order;
/// several only when their paths differ in literal affixes or only in parameter names).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route {
    pub axum_path: String,
    pub methods: Vec<(Method, Vec<usize>)>,
}
