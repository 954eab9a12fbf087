-- The cluster's members as control last heard of them: edges (collectors on
-- the border routers) and classifier workers. One shape for both; they are
-- two tables so that an edge and a worker may share an id.

CREATE TABLE edges (
  id         text        PRIMARY KEY CHECK (length(id) BETWEEN 1 AND 64),
  name       text        NOT NULL,
  version    text        NOT NULL,
  first_seen timestamptz NOT NULL,
  last_seen  timestamptz NOT NULL
);

CREATE TABLE workers (
  id         text        PRIMARY KEY CHECK (length(id) BETWEEN 1 AND 64),
  name       text        NOT NULL,
  version    text        NOT NULL,
  first_seen timestamptz NOT NULL,
  last_seen  timestamptz NOT NULL
);
