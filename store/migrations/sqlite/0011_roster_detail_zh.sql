-- A roster difference's reason in Chinese, sqlite dialect. Keep in step with ../postgres/0011_roster_detail_zh.sql.

-- The console shows it to Chinese readers; `detail` keeps the English. Checks recorded before
-- this migration have none ('') and show their English detail.
ALTER TABLE roster_checks ADD COLUMN detail_zh TEXT NOT NULL DEFAULT '';
