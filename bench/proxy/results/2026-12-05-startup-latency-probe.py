# Connection set-up latency, direct and through proxies: see 2026-12-05-startup-latency-probe.txt. Usage: python3 THIS SLEEP_SECONDS (ports hard-coded).
import socket, struct, time, statistics, random
body=b'user\0postgres\0database\0postgres\0\0'
pkt=struct.pack('!ii',8+len(body),196608)+body
q=b'select 1\0'; qpkt=b'Q'+struct.pack('!i',4+len(q))+q
def one(port):
    t0=time.perf_counter()
    s=socket.create_connection(('127.0.0.1',port)); s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    t1=time.perf_counter(); s.sendall(pkt); buf=b''
    while not buf.endswith(b'Z\x00\x00\x00\x05I'): buf+=s.recv(4096)
    t2=time.perf_counter(); s.sendall(qpkt); buf=b''
    while not buf.endswith(b'Z\x00\x00\x00\x05I'): buf+=s.recv(4096)
    t3=time.perf_counter(); s.sendall(b'X\x00\x00\x00\x04'); s.close()
    return (t1-t0, t2-t1, t3-t2, t3-t0)
SLEEP=float(__import__("sys").argv[1])
res={p:[] for p in (26990,26991,26992)}
for i in range(300):
    for p in random.sample(list(res),3): res[p].append(one(p)); time.sleep(SLEEP)
for p,name in ((26990,'direct'),(26991,'proxy warm 0'),(26992,'proxy warm 2')):
    cols=list(zip(*res[p]))
    print(f"{name:14s} connect {statistics.median(cols[0])*1e3:.3f}  startup->ready {statistics.median(cols[1])*1e3:.3f}  query {statistics.median(cols[2])*1e3:.3f}  total {statistics.median(cols[3])*1e3:.3f} ms (p90 {sorted(cols[3])[270]*1e3:.3f})")
