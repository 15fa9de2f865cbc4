-- The process running a run, PostgreSQL dialect. Keep in step with ../sqlite/0007_run_owner.sql.
-- A run whose process died (killed, crashed) stays `running`; the next run or `serve` on the same
-- host tells from this that its process is gone and marks it `abandoned`.
ALTER TABLE runs ADD COLUMN owner TEXT;
