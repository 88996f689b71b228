-- Times are RFC 3339 text in UTC (the same text on both databases, ordered as it sorts);
-- an order's items and shipping address are JSON text, read with the order.
CREATE TABLE users (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    email TEXT NOT NULL UNIQUE,
    name TEXT NOT NULL,
    tier TEXT NOT NULL CHECK (tier IN ('standard', 'gold')),
    token TEXT NOT NULL UNIQUE,
    created_at TEXT NOT NULL
);
CREATE TABLE orders (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    user_id BIGINT NOT NULL REFERENCES users (id),
    status TEXT NOT NULL CHECK (status IN ('pending', 'paid', 'shipped', 'cancelled')),
    total_cents BIGINT NOT NULL CHECK (total_cents >= 0),
    items TEXT NOT NULL,
    shipping TEXT NOT NULL,
    created_at TEXT NOT NULL
);
