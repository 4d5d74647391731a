-- ztoq-migration: 4 integrity_fixes -
-- Restores the schema of revision 3: association tables without primary key and with
-- nullable columns (rebuilt with their original definition and index), the duplicate
-- index ix_entity_batch_state_project_key, no unique key on custom_field_values.
-- Rows removed by the upgrade (duplicates, NULL or dangling pairs) do not come back.

DROP INDEX uq_custom_field_value_entity;

CREATE INDEX ix_entity_batch_state_project_key ON entity_batch_state (project_key);

ALTER TABLE case_version_association RENAME TO case_version_association_old;
CREATE TABLE case_version_association (
    test_case_id VARCHAR(50),
    version_id VARCHAR(50),
    FOREIGN KEY (test_case_id) REFERENCES test_cases (id) ON DELETE CASCADE,
    FOREIGN KEY (version_id) REFERENCES case_versions (id) ON DELETE CASCADE
);
INSERT INTO case_version_association (test_case_id, version_id)
    SELECT test_case_id, version_id FROM case_version_association_old;
DROP TABLE case_version_association_old;
CREATE INDEX idx_case_version ON case_version_association (test_case_id, version_id);

ALTER TABLE case_label_association RENAME TO case_label_association_old;
CREATE TABLE case_label_association (
    test_case_id VARCHAR(50),
    label_id VARCHAR(50),
    FOREIGN KEY (test_case_id) REFERENCES test_cases (id) ON DELETE CASCADE,
    FOREIGN KEY (label_id) REFERENCES labels (id) ON DELETE CASCADE
);
INSERT INTO case_label_association (test_case_id, label_id)
    SELECT test_case_id, label_id FROM case_label_association_old;
DROP TABLE case_label_association_old;
CREATE INDEX idx_case_label ON case_label_association (test_case_id, label_id);
