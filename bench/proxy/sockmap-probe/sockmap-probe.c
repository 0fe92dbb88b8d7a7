// Measurement probe, not a forwarding mode: the cheapest TCP-terminating forwarder this kernel allows.
// Every byte is forwarded in the kernel by a BPF sk_skb verdict program: a SOCKHASH keyed by socket cookie
// holds, under each socket's cookie, the socket its bytes go to (bpf_sk_redirect_hash, egress of the peer).
// User space only accepts, connects and closes. Limits that keep it out of the product (bench/proxy/README.md):
// needs CAP_BPF + CAP_NET_ADMIN; the first client packet is relayed by hand (bytes that arrive before a socket
// is in the map are not seen by the verdict); at the first end of stream both sockets are closed at once, so
// bytes still queued in the kernel can be lost; the kernel's redirect queue has no bound (no back-pressure).
// Usage: sockmap-probe LISTEN_PORT TARGET_PORT   (both on 127.0.0.1)
#define _GNU_SOURCE
#include <linux/bpf.h>
#include <sys/syscall.h>
#include <sys/socket.h>
#include <sys/epoll.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>
#include <unistd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <errno.h>
#include <stdint.h>

#define MAX_FD 65536
#define INSN(c, d, s, o, i) ((struct bpf_insn){.code = (c), .dst_reg = (d), .src_reg = (s), .off = (o), .imm = (i)})

enum state { FREE, WAITING_FOR_FIRST_PACKET, PAIRED };
static enum state state_of[MAX_FD];
static int peer_of[MAX_FD];
static int map_fd, epoll_fd;

static int bpf(int cmd, union bpf_attr *attr) { return (int)syscall(SYS_bpf, cmd, attr, sizeof *attr); }

static int load_verdict(void) {
    struct bpf_insn prog[] = {
        INSN(BPF_ALU64 | BPF_MOV | BPF_X, 6, 1, 0, 0),                    // r6 = skb
        INSN(BPF_JMP | BPF_CALL, 0, 0, 0, BPF_FUNC_get_socket_cookie),    // r0 = cookie of the receiving socket
        INSN(BPF_STX | BPF_MEM | BPF_DW, 10, 0, -8, 0),                   // key on the stack
        INSN(BPF_ALU64 | BPF_MOV | BPF_X, 1, 6, 0, 0),
        INSN(BPF_LD | BPF_DW | BPF_IMM, 2, BPF_PSEUDO_MAP_FD, 0, map_fd), INSN(0, 0, 0, 0, 0),
        INSN(BPF_ALU64 | BPF_MOV | BPF_X, 3, 10, 0, 0),
        INSN(BPF_ALU64 | BPF_ADD | BPF_K, 3, 0, 0, -8),
        INSN(BPF_ALU64 | BPF_MOV | BPF_K, 4, 0, 0, 0),                    // flags 0: out of the peer socket
        INSN(BPF_JMP | BPF_CALL, 0, 0, 0, BPF_FUNC_sk_redirect_hash),     // SK_PASS if redirected, else SK_DROP
        INSN(BPF_JMP | BPF_EXIT, 0, 0, 0, 0),
    };
    static char log[65536];
    union bpf_attr a;
    memset(&a, 0, sizeof a);
    a.prog_type = BPF_PROG_TYPE_SK_SKB;
    a.insns = (uintptr_t)prog;
    a.insn_cnt = sizeof prog / sizeof prog[0];
    a.license = (uintptr_t)"GPL";
    a.log_buf = (uintptr_t)log;
    a.log_size = sizeof log;
    a.log_level = 1;
    int prog_fd = bpf(BPF_PROG_LOAD, &a);
    if (prog_fd < 0) { fprintf(stderr, "sockmap-probe: BPF_PROG_LOAD: %s\n%s\n", strerror(errno), log); exit(1); }
    return prog_fd;
}

static void watch(int fd, uint32_t events, int op) {
    struct epoll_event ev = {.events = events, .data.fd = fd};
    epoll_ctl(epoll_fd, op, fd, &ev);
}

static void close_pair(int fd) {
    int peer = peer_of[fd];
    epoll_ctl(epoll_fd, EPOLL_CTL_DEL, fd, NULL);
    close(fd);
    state_of[fd] = FREE;
    if (peer >= 0) {
        epoll_ctl(epoll_fd, EPOLL_CTL_DEL, peer, NULL);
        close(peer);
        state_of[peer] = FREE;
        peer_of[peer] = -1;
    }
    peer_of[fd] = -1;
}

static int map_put(uint64_t cookie, int fd) {
    union bpf_attr a;
    memset(&a, 0, sizeof a);
    a.map_fd = map_fd;
    a.key = (uintptr_t)&cookie;
    a.value = (uintptr_t)&fd;
    a.flags = BPF_ANY;
    return bpf(BPF_MAP_UPDATE_ELEM, &a);
}

static void pair_with_backend(int client, struct sockaddr_in *target) {
    char first[8192];
    ssize_t length = recv(client, first, sizeof first, MSG_DONTWAIT);
    if (length <= 0) { if (length == 0 || errno != EAGAIN) close_pair(client); return; }
    int backend = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (backend < 0 || backend >= MAX_FD || connect(backend, (struct sockaddr *)target, sizeof *target) < 0) {
        if (backend >= 0) close(backend);
        close_pair(client);
        return;
    }
    int one = 1;
    setsockopt(client, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    setsockopt(backend, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    uint64_t client_cookie, backend_cookie;
    socklen_t size = sizeof client_cookie;
    getsockopt(client, SOL_SOCKET, SO_COOKIE, &client_cookie, &size);
    size = sizeof backend_cookie;
    getsockopt(backend, SOL_SOCKET, SO_COOKIE, &backend_cookie, &size);
    peer_of[client] = backend;
    peer_of[backend] = client;
    state_of[backend] = PAIRED;
    state_of[client] = PAIRED;
    if (map_put(client_cookie, backend) < 0 || map_put(backend_cookie, client) < 0) {
        perror("sockmap-probe: BPF_MAP_UPDATE_ELEM");
        close_pair(client);
        return;
    }
    // The client waits for the server's answer to its first packet (PostgreSQL's protocol opens that way),
    // so nothing else can be sitting unseen in the client socket when the first packet is relayed.
    if (send(backend, first, (size_t)length, MSG_NOSIGNAL) != length) { close_pair(client); return; }
    watch(client, EPOLLRDHUP, EPOLL_CTL_MOD);
    watch(backend, EPOLLRDHUP, EPOLL_CTL_ADD);
}

int main(int argc, char **argv) {
    if (argc != 3) { fprintf(stderr, "usage: sockmap-probe LISTEN_PORT TARGET_PORT\n"); return 2; }
    union bpf_attr a;
    memset(&a, 0, sizeof a);
    a.map_type = BPF_MAP_TYPE_SOCKHASH;
    a.key_size = 8;
    a.value_size = 4;
    a.max_entries = MAX_FD;
    map_fd = bpf(BPF_MAP_CREATE, &a);
    if (map_fd < 0) { fprintf(stderr, "sockmap-probe: BPF_MAP_CREATE: %s (needs CAP_BPF and CAP_NET_ADMIN)\n", strerror(errno)); return 1; }
    int prog_fd = load_verdict();
    memset(&a, 0, sizeof a);
    a.target_fd = map_fd;
    a.attach_bpf_fd = prog_fd;
    a.attach_type = BPF_SK_SKB_STREAM_VERDICT;
    if (bpf(BPF_PROG_ATTACH, &a) < 0) { perror("sockmap-probe: BPF_PROG_ATTACH"); return 1; }

    struct sockaddr_in listen_address = {.sin_family = AF_INET, .sin_port = htons((uint16_t)atoi(argv[1]))};
    struct sockaddr_in target = {.sin_family = AF_INET, .sin_port = htons((uint16_t)atoi(argv[2]))};
    inet_pton(AF_INET, "127.0.0.1", &listen_address.sin_addr);
    inet_pton(AF_INET, "127.0.0.1", &target.sin_addr);
    int listener = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0), one = 1;
    setsockopt(listener, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (bind(listener, (struct sockaddr *)&listen_address, sizeof listen_address) < 0 || listen(listener, 1024) < 0) {
        perror("sockmap-probe: listen");
        return 1;
    }
    epoll_fd = epoll_create1(EPOLL_CLOEXEC);
    watch(listener, EPOLLIN, EPOLL_CTL_ADD);
    for (int fd = 0; fd < MAX_FD; fd++) peer_of[fd] = -1;
    struct epoll_event events[256];
    for (;;) {
        int count = epoll_wait(epoll_fd, events, 256, -1), accept_ready = 0;
        for (int i = 0; i < count; i++) {
            int fd = events[i].data.fd;
            if (fd == listener) {
                accept_ready = 1; // after the batch: a new socket may reuse the number of one closed by a later event of it
            } else if (state_of[fd] == WAITING_FOR_FIRST_PACKET) {
                if (events[i].events & EPOLLIN) pair_with_backend(fd, &target); else close_pair(fd);
            } else if (state_of[fd] == PAIRED) {
                close_pair(fd);
            }
        }
        for (int client; accept_ready && (client = accept4(listener, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK)) >= 0;) {
            if (client >= MAX_FD) { close(client); continue; }
            state_of[client] = WAITING_FOR_FIRST_PACKET;
            watch(client, EPOLLIN | EPOLLRDHUP, EPOLL_CTL_ADD);
        }
    }
}
