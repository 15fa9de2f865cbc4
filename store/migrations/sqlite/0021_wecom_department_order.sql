-- The order orgid sent for each WeCom department (次序值 among its siblings, larger first), SQLite
-- dialect. Keep in step with ../postgres/0021_wecom_department_order.sql. 0: none sent yet (the
-- next sync with a roster sends it).
ALTER TABLE wecom_departments ADD COLUMN sort_order BIGINT NOT NULL DEFAULT 0;
