// Real clusters, real containers and real bpftrace take seconds, not milliseconds.
jest.setTimeout(240_000);
