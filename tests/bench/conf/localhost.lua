-- wrk: connect to 127.0.0.1 whatever "localhost" resolves to (::1 on some hosts),
-- while the URL host (localhost) still gives the SNI name and the Host header.
function setup(thread)
  thread.addr = wrk.lookup("127.0.0.1", wrk.port)[1]
end
