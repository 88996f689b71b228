-- A user's orders, newest first (`WHERE user_id = ? ORDER BY id DESC`, and the statistics'
-- `WHERE user_id IN (...)`), and those of one status (`WHERE user_id = ? AND status = ?
-- ORDER BY id DESC`): each query filters on a prefix of one of these.
CREATE INDEX orders_by_user ON orders (user_id, id);
CREATE INDEX orders_by_user_and_status ON orders (user_id, status, id);
