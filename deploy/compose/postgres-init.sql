-- One database per service: no service reads another's database.
-- Run once by the postgres image's entrypoint, as POSTGRES_USER (learnstream),
-- on the first start with an empty data volume; learnstream owns them all.
-- Each service creates its own tables (migrations) when it starts.
--
-- The docker-compose.yml healthcheck waits for learnstream_gateway, the last
-- one created here: keep it last.
CREATE DATABASE learnstream_progress;
CREATE DATABASE learnstream_chat;
CREATE DATABASE learnstream_achievements;
CREATE DATABASE learnstream_analytics;
CREATE DATABASE learnstream_exports;
-- the key vault: per-learner keys of personal fields in events, shared by the services
CREATE DATABASE learnstream_vault;
CREATE DATABASE learnstream_gateway;
