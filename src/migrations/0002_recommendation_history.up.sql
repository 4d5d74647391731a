-- ztoq-migration: 2 recommendation_history 2af75c826b91
-- Adds recommendation_history (Alembic revision 2af75c826b91).
-- priority is one of high, medium, low
-- status is one of open, implemented, rejected, pending
-- The ix_recommendation_history_project_key, _timestamp and _recommendation_id
-- indexes are the ones Alembic creates for the index=True columns.

CREATE TABLE recommendation_history (
    id {{id_serial}} NOT NULL,
    project_key VARCHAR(50) NOT NULL,
    timestamp {{timestamp}} NOT NULL,
    recommendation_id VARCHAR(50) NOT NULL,
    priority VARCHAR(10) NOT NULL,
    category VARCHAR(50) NOT NULL,
    issue TEXT NOT NULL,
    action TEXT NOT NULL,
    status VARCHAR(20) DEFAULT 'open' NOT NULL,
    implemented_at {{timestamp}},
    impact_score FLOAT,
    migration_phase VARCHAR(20),
    entity_type VARCHAR(50),
    meta_data {{json}},
    PRIMARY KEY (id)
);
CREATE INDEX ix_recommendation_history_project_key ON recommendation_history (project_key);
CREATE INDEX ix_recommendation_history_timestamp ON recommendation_history (timestamp);
CREATE INDEX ix_recommendation_history_recommendation_id ON recommendation_history (recommendation_id);
CREATE INDEX ix_recommendation_history_project_timestamp ON recommendation_history (project_key, timestamp);
CREATE INDEX ix_recommendation_history_priority ON recommendation_history (priority);
CREATE INDEX ix_recommendation_history_status ON recommendation_history (status);
CREATE UNIQUE INDEX ix_recommendation_history_project_rec_id ON recommendation_history (project_key, recommendation_id);
