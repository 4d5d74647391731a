-- ztoq-migration: 2 recommendation_history 2af75c826b91
-- Drops recommendation_history and its indexes.

DROP INDEX ix_recommendation_history_project_rec_id;
DROP INDEX ix_recommendation_history_status;
DROP INDEX ix_recommendation_history_priority;
DROP INDEX ix_recommendation_history_project_timestamp;
DROP INDEX ix_recommendation_history_recommendation_id;
DROP INDEX ix_recommendation_history_timestamp;
DROP INDEX ix_recommendation_history_project_key;
DROP TABLE recommendation_history;
