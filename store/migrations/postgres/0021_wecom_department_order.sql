-- The order orgid sent for each WeCom department (次序值 among its siblings, larger first), PostgreSQL
-- dialect. Keep in step with ../sqlite/0021_wecom_department_order.sql. 0: none sent yet (the
-- next sync with a roster sends it).
ALTER TABLE wecom_departments ADD COLUMN sort_order BIGINT NOT NULL DEFAULT 0;
