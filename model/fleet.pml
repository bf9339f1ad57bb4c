/*
 * fleet.pml: the commit and leader-change protocol of docs/REPLICATION.md, for 3 HSMs and a
 * hostile host, checked exhaustively by spin. See model/README.md for what is modelled, what is
 * abstracted away and how to run it.
 *
 * Compile-time switches (spin -a -DNAME=value fleet.pml):
 *   MAXIDX=n     highest log index a leader may write (genesis is index 1), 2..5, default 4
 *   MAXTERMS=n   how many times the host may make a member leader, 1..4, default 3
 *                (3 leaderships = 2 leader changes)
 *   WIPES=n      how many times a member may lose its NVRAM and rejoin by vouches, default 0
 *   BUG_QUORUM   seeded bug: the leader commits with 1 statement instead of 2
 *   BUG_CAPTURE  seeded bug: Capture accepts any index <= captured+1 and skips the chain check
 *   JOIN_CHAIN   candidate fix explored with WIPES (not in the spec): refuse a join whose vouches
 *                are not all on the chain of the highest one
 *   COVER=1|2|3  reachability checks (each expected to fail): 1 the last leadership commits at
 *                the top index over an earlier leadership's committed entry, 2 a leader steps
 *                down, 3 a leader starts from a chain that lacks a committed entry
 *
 * Assertions (each names the property it checks):
 *   (a) no two different entries are committed at one index
 *   (b) every committed entry is an ancestor of (or equal to) every other committed entry, so a
 *       committed entry stays the entry at its index in the chain of every later commit
 *   (c) a member's captured index never decreases while its NVRAM lives
 *   (d) a join starts at or beyond every entry committed before the joiner drew its nonce
 */

#ifndef MAXIDX
#define MAXIDX 4
#endif
#ifndef MAXTERMS
#define MAXTERMS 3
#endif
#ifndef WIPES
#define WIPES 0
#endif
#ifndef COVER
#define COVER 0
#endif

#define N 3
#ifdef BUG_QUORUM
#define Q 1
#else
#define Q 2
#endif

/*
 * Entries. Leadership t (0 <= t < MAXTERMS) writes at most one entry per index, consecutively
 * from its base, so an entry is identified by (index, writer = lead[t], serial = t) and gets the
 * id EID(t, i). The id stands for the entry's MAC: the host can only hand over ids of entries a
 * leader really wrote (it cannot forge a MAC). GEN is the genesis entry (index 1), NONE an empty
 * NVRAM.
 */
#define NI (MAXIDX - 1)
#define NE (MAXTERMS * NI)
#define GEN NE
#define NONE 255
#define EID(t, i) ((t) * NI + (i) - 2)
#define TERM(e) ((e) / NI)
#define IDX(e) ((e) == GEN -> 1 : ((e) % NI) + 2)

#if MAXTERMS > 3
#define T3(x) x
#else
#define T3(x)
#endif
#if MAXIDX > 4
#define I5(x) x
#else
#define I5(x)
#endif

#if MAXIDX < 2 || MAXIDX > 5
#error MAXIDX must be 2..5
#endif
#if MAXTERMS < 1 || MAXTERMS > 4
#error MAXTERMS must be 1..4
#endif

/* Member NVRAM: the captured entry (its id = its MAC, the chain's prev) and its index. */
byte cap[N] = GEN;
byte capidx[N] = 1;

/* Leaderships: who leads, the base it adopted (its own captured entry), the index of its newest
 * entry. Entry (t, i) exists iff baseidx[t] < i <= headidx[t]; it stays in the host's hands
 * after the leadership ends. myterm[m] is member m's leader RAM: the leadership it holds now. */
byte nterms;
byte lead[MAXTERMS];
byte base[MAXTERMS];
byte baseidx[MAXTERMS];
byte headidx[MAXTERMS];
byte myterm[N] = NONE;

/* Every CapturedStatement ever made, as a bit set of members per entry: the host may replay any
 * of them to any leader at any time, in any order, or drop them. */
byte stmt[NE];

/* Ghost state for the assertions: the committed entry at each index (NONE if none yet). */
byte cidx[MAXIDX + 1] = NONE;

/* Joining: vouch[j*N + v] is voucher v's fresh vouch (its captured entry) for joiner j's nonce;
 * chal[j] the highest committed index when j drew the nonce. */
byte wipes;
byte vouch[N * N] = NONE;
byte chal[N];

hidden byte u, k, x, y, nvouch;

/* Always 0: each assertion ends in `|| name`, so spin's "assertion violated" line names the
 * property that failed. */
hidden byte a_two_entries_committed_at_one_index;
hidden byte b_committed_entry_not_in_later_commit_chain;
hidden byte c_captured_index_went_back;
hidden byte d_join_below_a_committed_entry;

#define EXISTS(t, i) ((t) < nterms && (i) > baseidx[t] && (i) <= headidx[t])
#define PREV(t, i) ((i) - 1 == baseidx[t] -> base[t] : EID(t, (i) - 1))
#define LEADING(t) ((t) < nterms && myterm[lead[t]] == (t))
#define POP3(s) (((s) & 1) + (((s) >> 1) & 1) + (((s) >> 2) & 1))

/* out = the ancestor of entry `from` at index `at` (at <= IDX(from)), following prev. */
inline ancestor(from, at, out) {
    out = from;
    do
    :: IDX(out) > at ->
        if
        :: at > baseidx[TERM(out)] -> out = EID(TERM(out), at)
        :: else -> out = base[TERM(out)]
        fi
    :: else -> break
    od;
    skip
}

/* Member m captures entry (t, i): NVRAM moves to it, a statement is made, and a leader that
 * wrote another entry at index i steps down (drops its leader RAM). */
inline accept(m, t, i) {
    printf("MSC: Capture: member %d captures e(%d,%d,%d)\n", m, i, lead[t], t);
    assert(i >= capidx[m] || c_captured_index_went_back);
    cap[m] = EID(t, i);
    capidx[m] = i;
    stmt[EID(t, i)] = stmt[EID(t, i)] | (1 << m);
    if
    :: myterm[m] != NONE && myterm[m] != t && i > baseidx[myterm[m]] && i <= headidx[myterm[m]] ->
        printf("MSC: StepDown: member %d ends leadership %d (another entry at %d)\n", m, myterm[m], i);
        myterm[m] = NONE;
#if COVER == 2
        assert(false);  /* reachability: a leader steps down */
#endif
    :: else -> skip
    fi
}

#ifdef BUG_CAPTURE
/* Seeded bug: any existing entry at an index <= captured + 1, whatever its prev. */
#define CAPTURE_AT(m, t, i) \
    :: d_step { (i) <= MAXIDX && cap[m] != NONE && EXISTS(t, i) && (i) <= capidx[m] + 1 && \
                cap[m] != EID(t, i) -> accept(m, t, i) }
#define CAPTURE(m, t) CAPTURE_AT(m, t, 2) CAPTURE_AT(m, t, 3) CAPTURE_AT(m, t, 4) I5(CAPTURE_AT(m, t, 5))
#else
/* The rule: index = captured + 1 and prev = the captured entry (MAC). */
#define CAPTURE(m, t) \
    :: d_step { cap[m] != NONE && EXISTS(t, capidx[m] + 1) && PREV(t, capidx[m] + 1) == cap[m] -> \
                k = capidx[m] + 1; accept(m, t, k) }
#endif

/* The host makes member m leader; BecomeLeader takes exactly m's own captured entry as base. */
#define BECOME(m) \
    :: d_step { nterms < MAXTERMS && cap[m] != NONE -> \
                printf("MSC: BecomeLeader: member %d leads (serial %d) from index %d\n", m, nterms, capidx[m]); \
                lead[nterms] = m; base[nterms] = cap[m]; baseidx[nterms] = capidx[m]; \
                headidx[nterms] = capidx[m]; myterm[m] = nterms; COVER3(m); nterms++ }

/* COVER=3 (expected to fail): "every later leader's chain holds every committed entry" is too
 * strong: a member that captured a fork may lead from it; it writes, but can never commit. */
#if COVER == 3
#define COVER3(m) \
    k = 2; \
    do :: k <= capidx[m] -> if :: cidx[k] != NONE -> ancestor(cap[m], k, y); assert(y == cidx[k]) \
                               :: else -> skip fi; k++ \
       :: else -> break od
#else
#define COVER3(m) skip
#endif

/* Batch: the leader of t appends an entry after its newest one. */
#define WRITE(t) \
    :: d_step { LEADING(t) && headidx[t] < MAXIDX -> headidx[t]++; \
                printf("MSC: Batch: member %d writes e(%d,%d,%d)\n", lead[t], headidx[t], lead[t], t) }

/* Commit: the leader of t holds statements of Q distinct members for its entry (t, i), so that
 * entry and all before it in its chain are committed. */
#define COMMIT_AT(t, i) \
    :: d_step { (i) <= MAXIDX && LEADING(t) && EXISTS(t, i) && cidx[i] != EID(t, i) && \
                POP3(stmt[EID(t, i)]) >= Q -> x = EID(t, i); commit(x, i) }
#define COMMIT(t) COMMIT_AT(t, 2) COMMIT_AT(t, 3) COMMIT_AT(t, 4) I5(COMMIT_AT(t, 5))

inline commit(e, ie) {
    printf("MSC: Commit: member %d commits e(%d,%d,%d), statements %d\n", lead[TERM(e)], ie, lead[TERM(e)], TERM(e), stmt[e]);
    assert(cidx[ie] == NONE || cidx[ie] == e || a_two_entries_committed_at_one_index);
    k = 2;
    do
    :: k <= MAXIDX ->
        if
        :: k != ie && cidx[k] != NONE ->
            if
            :: k < ie -> ancestor(e, k, y); assert(y == cidx[k] || b_committed_entry_not_in_later_commit_chain)
            :: else -> ancestor(cidx[k], ie, y); assert(y == e || b_committed_entry_not_in_later_commit_chain)
            fi
        :: else -> skip
        fi;
        k++
    :: else -> break
    od;
    k = 2;
    do
    :: k <= ie -> ancestor(e, k, y); cidx[k] = y; k++
    :: else -> break
    od;
#if COVER == 1
    /* reachability: the last leadership commits at the top index over an earlier one's entry */
    assert(!(TERM(e) == MAXTERMS - 1 && ie == MAXIDX && cidx[2] != NONE && TERM(cidx[2]) < TERM(e)));
#endif
    skip
}

/* Member m loses its NVRAM (and its leader RAM), and draws a join nonce: old vouches are void. */
#define WIPE(m) \
    :: d_step { wipes < WIPES && cap[m] != NONE -> \
                printf("MSC: Wipe: member %d loses its NVRAM and draws a join nonce\n", m); \
                wipes++; cap[m] = NONE; capidx[m] = 0; myterm[m] = NONE; \
                vouch[m * N] = NONE; vouch[m * N + 1] = NONE; vouch[m * N + 2] = NONE; \
                chal[m] = 1; k = 2; \
                do :: k <= MAXIDX -> if :: cidx[k] != NONE -> chal[m] = k :: else -> skip fi; k++ \
                   :: else -> break od; skip }

/* Joined member v vouches, for j's current nonce, for where it is now. */
#define VOUCH(v, j) \
    :: d_step { cap[j] == NONE && cap[v] != NONE && vouch[j * N + v] != cap[v] -> \
                vouch[j * N + v] = cap[v]; \
                printf("MSC: Vouch: member %d vouches index %d for joiner %d\n", v, capidx[v], j) }

/* Join: Q fresh vouches from distinct other members; NVRAM := the highest, here v's (ties
 * between different entries at the highest index: the host picks, as the order of two MACs is
 * pseudorandom).
 * JOIN_CHAIN (not in the spec, a candidate fix): the join is also refused unless every vouched
 * entry is on the chain of the highest one (the host would hand over the MAC'd entries between). */
inline join(j, v) {
    nvouch = 0;
    u = 0;
    do
    :: u < N ->
        if
        :: vouch[j * N + u] != NONE && IDX(vouch[j * N + u]) > IDX(vouch[j * N + v]) -> nvouch = 0; u = N
        :: vouch[j * N + u] != NONE && IDX(vouch[j * N + u]) <= IDX(vouch[j * N + v]) ->
            nvouch++;
#ifdef JOIN_CHAIN
            ancestor(vouch[j * N + v], IDX(vouch[j * N + u]), y);
            if
            :: y != vouch[j * N + u] -> nvouch = 0; u = N
            :: else -> skip
            fi
#endif
        :: else -> skip
        fi;
        u++
    :: else -> break
    od;
    if
    :: nvouch >= Q ->
        printf("MSC: Join: member %d joins at index %d (vouch of %d)\n", j, IDX(vouch[j * N + v]), v);
        assert(IDX(vouch[j * N + v]) >= chal[j] || d_join_below_a_committed_entry);
        cap[j] = vouch[j * N + v];
        capidx[j] = IDX(vouch[j * N + v]);
        vouch[j * N] = NONE;
        vouch[j * N + 1] = NONE;
        vouch[j * N + 2] = NONE
    :: else -> skip
    fi
}

#define JOIN(j, v) \
    :: d_step { cap[j] == NONE && vouch[j * N + v] != NONE -> join(j, v) }

/* The hostile host: every step is one request it chooses to deliver, any number of times, in any
 * order; not taking a step is a drop. */
active proctype host()
{
end:
    do
    BECOME(0) BECOME(1) BECOME(2)
    WRITE(0) WRITE(1) WRITE(2) T3(WRITE(3))
    CAPTURE(0, 0) CAPTURE(0, 1) CAPTURE(0, 2) T3(CAPTURE(0, 3))
    CAPTURE(1, 0) CAPTURE(1, 1) CAPTURE(1, 2) T3(CAPTURE(1, 3))
    CAPTURE(2, 0) CAPTURE(2, 1) CAPTURE(2, 2) T3(CAPTURE(2, 3))
    COMMIT(0) COMMIT(1) COMMIT(2) T3(COMMIT(3))
#if WIPES > 0
    WIPE(0) WIPE(1) WIPE(2)
    VOUCH(1, 0) VOUCH(2, 0) VOUCH(0, 1) VOUCH(2, 1) VOUCH(0, 2) VOUCH(1, 2)
    JOIN(0, 1) JOIN(0, 2) JOIN(1, 0) JOIN(1, 2) JOIN(2, 0) JOIN(2, 1)
#endif
    od
}
