# cython: language_level=3
"""The routing engine in C: the same API and the same choices as ``_route_py`` (whose
docstring is the specification); tests hold the two equal on random workloads.

Agents live in slots of flat C arrays (availability, idle since, calls, talk time). Each
queue keeps its eligible agents (slot, id, penalty, skill score) sorted by agent id, and its
waiting calls sorted by (-priority, seq); each agent keeps the list of queues it serves.
Eligibility is recomputed only when skills or memberships change; a decision is one pass
over a queue's eligible agents, or over the heads of an agent's queues.
"""

from libc.stdint cimport int64_t, uint64_t
from libc.stdlib cimport free, realloc
from libc.string cimport memmove

from acd._route_py import STRATEGIES

cdef enum:
    LONGEST_IDLE = 0
    FEWEST_CALLS = 1
    LEAST_TALK = 2
    ROUND_ROBIN = 3
    RING_ALL = 4
    RANDOM = 5
    WEIGHTED_RANDOM = 6
    SKILL_BEST = 7


cdef void* _grow(void* p, Py_ssize_t n, size_t size) except NULL:
    cdef void* q = realloc(p, (n if n > 0 else 1) * size)
    if q == NULL:
        raise MemoryError()
    return q


cdef class _Queue:
    cdef public int64_t id
    cdef public int strategy
    cdef public list requirements
    cdef public dict members
    cdef int64_t rr_last
    # eligible agents, sorted by agent id
    cdef Py_ssize_t n_el, cap_el
    cdef int* el_slot
    cdef int64_t* el_id
    cdef int* el_pen
    cdef int* el_score
    # waiting calls, sorted by (-priority, seq, call)
    cdef Py_ssize_t n_w, cap_w
    cdef int64_t* w_prio
    cdef int64_t* w_seq
    cdef int64_t* w_call

    def __cinit__(self):
        self.el_slot = NULL
        self.el_id = NULL
        self.el_pen = NULL
        self.el_score = NULL
        self.w_prio = NULL
        self.w_seq = NULL
        self.w_call = NULL

    def __dealloc__(self):
        free(self.el_slot)
        free(self.el_id)
        free(self.el_pen)
        free(self.el_score)
        free(self.w_prio)
        free(self.w_seq)
        free(self.w_call)

    cdef void _reserve_el(self, Py_ssize_t n) except *:
        if n <= self.cap_el:
            return
        cdef Py_ssize_t cap = max(n, 2 * self.cap_el, 8)
        self.el_slot = <int*>_grow(self.el_slot, cap, sizeof(int))
        self.el_id = <int64_t*>_grow(self.el_id, cap, sizeof(int64_t))
        self.el_pen = <int*>_grow(self.el_pen, cap, sizeof(int))
        self.el_score = <int*>_grow(self.el_score, cap, sizeof(int))
        self.cap_el = cap

    cdef void _reserve_w(self, Py_ssize_t n) except *:
        if n <= self.cap_w:
            return
        cdef Py_ssize_t cap = max(n, 2 * self.cap_w, 8)
        self.w_prio = <int64_t*>_grow(self.w_prio, cap, sizeof(int64_t))
        self.w_seq = <int64_t*>_grow(self.w_seq, cap, sizeof(int64_t))
        self.w_call = <int64_t*>_grow(self.w_call, cap, sizeof(int64_t))
        self.cap_w = cap

    cdef Py_ssize_t _find_el(self, int64_t agent_id):
        """Index of the first eligible entry with id >= agent_id."""
        cdef Py_ssize_t lo = 0, hi = self.n_el, mid
        while lo < hi:
            mid = (lo + hi) // 2
            if self.el_id[mid] < agent_id:
                lo = mid + 1
            else:
                hi = mid
        return lo


cdef inline bint _w_less(int64_t p1, int64_t s1, int64_t c1, int64_t p2, int64_t s2, int64_t c2):
    if p1 != p2:
        return p1 < p2
    if s1 != s2:
        return s1 < s2
    return c1 < c2


cdef class Router:
    cdef dict _slots          # agent id -> slot
    cdef list _free           # free slots
    cdef list _skills         # slot -> dict skill -> level (None when free)
    cdef list _agent_queues   # slot -> list of _Queue it serves, by queue id
    cdef dict _queues         # queue id -> _Queue
    cdef dict _call_queue     # call id -> _Queue
    cdef Py_ssize_t n_slots, cap
    cdef char* avail
    cdef int64_t* ids
    cdef int64_t* idle
    cdef int64_t* calls
    cdef int64_t* talk
    cdef uint64_t rng
    cdef int* pool            # scratch: eligible indexes of a queue's current pool
    cdef Py_ssize_t cap_pool

    def __cinit__(self, int64_t seed=1):
        self._slots = {}
        self._free = []
        self._skills = []
        self._agent_queues = []
        self._queues = {}
        self._call_queue = {}
        self.n_slots = 0
        self.cap = 0
        self.avail = NULL
        self.ids = NULL
        self.idle = NULL
        self.calls = NULL
        self.talk = NULL
        self.pool = NULL
        self.cap_pool = 0
        self.rng = <uint64_t>seed
        if self.rng == 0:
            self.rng = 1

    def __dealloc__(self):
        free(self.avail)
        free(self.ids)
        free(self.idle)
        free(self.calls)
        free(self.talk)
        free(self.pool)

    cdef uint64_t _next_random(self):
        cdef uint64_t x = self.rng
        x ^= x >> 12
        x ^= x << 25
        x ^= x >> 27
        self.rng = x
        return (x * <uint64_t>0x2545F4914F6CDD1D) >> 11

    # ---- agents ---------------------------------------------------------------------------

    cdef int _slot(self, int64_t agent_id) except -1:
        slot = self._slots.get(agent_id)
        if slot is None:
            raise KeyError(f"no agent {agent_id}")
        return slot

    def add_agent(self, int64_t agent_id):
        cdef int slot
        if agent_id in self._slots:
            raise ValueError(f"agent {agent_id} exists")
        if self._free:
            slot = self._free.pop()
        else:
            if self.n_slots >= self.cap:
                self.cap = max(2 * self.cap, 64)
                self.avail = <char*>_grow(self.avail, self.cap, sizeof(char))
                self.ids = <int64_t*>_grow(self.ids, self.cap, sizeof(int64_t))
                self.idle = <int64_t*>_grow(self.idle, self.cap, sizeof(int64_t))
                self.calls = <int64_t*>_grow(self.calls, self.cap, sizeof(int64_t))
                self.talk = <int64_t*>_grow(self.talk, self.cap, sizeof(int64_t))
            slot = self.n_slots
            self.n_slots += 1
            self._skills.append(None)
            self._agent_queues.append(None)
        self._slots[agent_id] = slot
        self.avail[slot] = 0
        self.ids[slot] = agent_id
        self.idle[slot] = 0
        self.calls[slot] = 0
        self.talk[slot] = 0
        self._skills[slot] = {}
        self._agent_queues[slot] = []
        self._refresh_agent(agent_id)

    def remove_agent(self, int64_t agent_id):
        cdef int slot = self._slot(agent_id)
        cdef _Queue q
        cdef Py_ssize_t i
        for q in self._queues.values():
            q.members.pop(agent_id, None)
            i = q._find_el(agent_id)
            if i < q.n_el and q.el_id[i] == agent_id:
                self._el_delete(q, i)
            if q.rr_last == agent_id:
                q.rr_last = -1
        del self._slots[agent_id]
        self._skills[slot] = None
        self._agent_queues[slot] = None
        self.avail[slot] = 0
        self._free.append(slot)

    def set_skill(self, int64_t agent_id, int64_t skill_id, int level):
        if not 0 <= level <= 10:
            raise ValueError("skill level must be 0-10")
        cdef int slot = self._slot(agent_id)
        skills = self._skills[slot]
        if level:
            skills[skill_id] = level
        else:
            skills.pop(skill_id, None)
        self._refresh_agent(agent_id)

    def set_available(self, int64_t agent_id, available, int64_t now_us=-1):
        cdef int slot = self._slot(agent_id)
        self.avail[slot] = 1 if available else 0
        if available and now_us >= 0:
            self.idle[slot] = now_us

    def record_call(self, int64_t agent_id, int64_t talk_us):
        cdef int slot = self._slot(agent_id)
        self.calls[slot] += 1
        self.talk[slot] += talk_us

    def agent_stats(self, int64_t agent_id):
        cdef int slot = self._slot(agent_id)
        return bool(self.avail[slot]), self.idle[slot], self.calls[slot], self.talk[slot]

    # ---- queues ---------------------------------------------------------------------------

    cdef _Queue _queue(self, int64_t queue_id):
        q = self._queues.get(queue_id)
        if q is None:
            raise KeyError(f"no queue {queue_id}")
        return q

    def add_queue(self, int64_t queue_id, int strategy, requirements):
        if queue_id in self._queues:
            raise ValueError(f"queue {queue_id} exists")
        if not 0 <= strategy < len(STRATEGIES):
            raise ValueError(f"unknown strategy {strategy}")
        reqs = [(int(s), int(level)) for s, level in requirements]
        for _skill, level in reqs:
            if not 1 <= level <= 10:
                raise ValueError("minimum skill level must be 1-10")
        cdef _Queue q = _Queue()
        q.id = queue_id
        q.strategy = strategy
        q.requirements = reqs
        q.members = {}
        q.rr_last = -1
        self._queues[queue_id] = q
        for agent_id in list(self._slots):
            self._update(q, agent_id)

    def set_member(self, int64_t queue_id, int64_t agent_id, int penalty):
        cdef _Queue q = self._queue(queue_id)
        self._slot(agent_id)
        if penalty < 0:
            q.members.pop(agent_id, None)
        else:
            q.members[agent_id] = penalty
        self._update(q, agent_id)

    cdef _refresh_agent(self, int64_t agent_id):
        cdef _Queue q
        for q in self._queues.values():
            self._update(q, agent_id)

    cdef _el_delete(self, _Queue q, Py_ssize_t i):
        cdef Py_ssize_t n = q.n_el - i - 1
        memmove(&q.el_slot[i], &q.el_slot[i + 1], n * sizeof(int))
        memmove(&q.el_id[i], &q.el_id[i + 1], n * sizeof(int64_t))
        memmove(&q.el_pen[i], &q.el_pen[i + 1], n * sizeof(int))
        memmove(&q.el_score[i], &q.el_score[i + 1], n * sizeof(int))
        q.n_el -= 1

    cdef _update(self, _Queue q, int64_t agent_id):
        cdef int slot = self._slot(agent_id)
        skills = self._skills[slot]
        cdef int score = 0, level, penalty = -1
        cdef bint qualified = len(q.requirements) > 0
        for skill, minimum in q.requirements:
            level = skills.get(skill, 0)
            if level < minimum:
                qualified = False
            score += level
        if score < 1:
            score = 1
        if agent_id in q.members:
            penalty = q.members[agent_id]
        elif qualified:
            penalty = 0
        cdef Py_ssize_t i = q._find_el(agent_id), n
        cdef bint present = i < q.n_el and q.el_id[i] == agent_id
        if penalty >= 0:
            if not present:
                q._reserve_el(q.n_el + 1)
                n = q.n_el - i
                memmove(&q.el_slot[i + 1], &q.el_slot[i], n * sizeof(int))
                memmove(&q.el_id[i + 1], &q.el_id[i], n * sizeof(int64_t))
                memmove(&q.el_pen[i + 1], &q.el_pen[i], n * sizeof(int))
                memmove(&q.el_score[i + 1], &q.el_score[i], n * sizeof(int))
                q.n_el += 1
            q.el_slot[i] = slot
            q.el_id[i] = agent_id
            q.el_pen[i] = penalty
            q.el_score[i] = score
        elif present:
            self._el_delete(q, i)
        served = self._agent_queues[slot]
        if penalty >= 0 and q not in served:
            served.append(q)
            served.sort(key=_queue_id)
        elif penalty < 0 and q in served:
            served.remove(q)

    # ---- calls ----------------------------------------------------------------------------

    def enqueue(self, int64_t queue_id, int64_t call_id, int64_t priority, int64_t seq):
        cdef _Queue q = self._queue(queue_id)
        if call_id in self._call_queue:
            raise ValueError(f"call {call_id} is already waiting")
        cdef int64_t p = -priority
        cdef Py_ssize_t lo = 0, hi = q.n_w, mid, n
        while lo < hi:
            mid = (lo + hi) // 2
            if _w_less(q.w_prio[mid], q.w_seq[mid], q.w_call[mid], p, seq, call_id):
                lo = mid + 1
            else:
                hi = mid
        q._reserve_w(q.n_w + 1)
        n = q.n_w - lo
        memmove(&q.w_prio[lo + 1], &q.w_prio[lo], n * sizeof(int64_t))
        memmove(&q.w_seq[lo + 1], &q.w_seq[lo], n * sizeof(int64_t))
        memmove(&q.w_call[lo + 1], &q.w_call[lo], n * sizeof(int64_t))
        q.w_prio[lo] = p
        q.w_seq[lo] = seq
        q.w_call[lo] = call_id
        q.n_w += 1
        self._call_queue[call_id] = q

    def dequeue(self, int64_t call_id):
        q_obj = self._call_queue.pop(call_id, None)
        if q_obj is None:
            return False
        cdef _Queue q = q_obj
        cdef Py_ssize_t i, n
        for i in range(q.n_w):
            if q.w_call[i] == call_id:
                n = q.n_w - i - 1
                memmove(&q.w_prio[i], &q.w_prio[i + 1], n * sizeof(int64_t))
                memmove(&q.w_seq[i], &q.w_seq[i + 1], n * sizeof(int64_t))
                memmove(&q.w_call[i], &q.w_call[i + 1], n * sizeof(int64_t))
                q.n_w -= 1
                break
        return True

    def waiting(self, int64_t queue_id):
        cdef _Queue q = self._queue(queue_id)
        return [q.w_call[i] for i in range(q.n_w)]

    def position(self, int64_t call_id):
        q_obj = self._call_queue.get(call_id)
        if q_obj is None:
            return 0
        cdef _Queue q = q_obj
        cdef Py_ssize_t i
        for i in range(q.n_w):
            if q.w_call[i] == call_id:
                return i + 1
        return 0

    def call_queue(self, int64_t call_id):
        q = self._call_queue.get(call_id)
        return -1 if q is None else (<_Queue>q).id

    # ---- decisions ------------------------------------------------------------------------

    cdef Py_ssize_t _pool(self, _Queue q) except -1:
        """Fill self.pool with the eligible indexes of the available agents of the lowest
        penalty present, in agent-id order; return how many."""
        if self.cap_pool < q.n_el:
            self.cap_pool = max(q.n_el, 2 * self.cap_pool, 64)
            self.pool = <int*>_grow(self.pool, self.cap_pool, sizeof(int))
        cdef Py_ssize_t i, n = 0
        cdef int best = -1, pen
        cdef char* avail = self.avail
        for i in range(q.n_el):
            if not avail[q.el_slot[i]]:
                continue
            pen = q.el_pen[i]
            if best < 0 or pen < best:
                best = pen
                n = 0
            if pen == best:
                self.pool[n] = <int>i
                n += 1
        return n

    cdef bint _better(self, _Queue q, int i, int j):
        """Is eligible entry i before entry j under the queue's strategy?"""
        cdef int si = q.el_slot[i], sj = q.el_slot[j]
        cdef int s = q.strategy
        if s == FEWEST_CALLS:
            if self.calls[si] != self.calls[sj]:
                return self.calls[si] < self.calls[sj]
        elif s == LEAST_TALK:
            if self.talk[si] != self.talk[sj]:
                return self.talk[si] < self.talk[sj]
        elif s == SKILL_BEST:
            if q.el_score[i] != q.el_score[j]:
                return q.el_score[i] > q.el_score[j]
        if self.idle[si] != self.idle[sj]:
            return self.idle[si] < self.idle[sj]
        return q.el_id[i] < q.el_id[j]

    def route(self, int64_t queue_id):
        cdef _Queue q = self._queue(queue_id)
        cdef Py_ssize_t n = self._pool(q), k
        cdef int best, i
        cdef uint64_t total, r
        if n == 0:
            return -1
        if q.strategy == ROUND_ROBIN:
            best = self.pool[0]
            for k in range(n):
                if q.el_id[self.pool[k]] > q.rr_last:
                    best = self.pool[k]
                    break
            q.rr_last = q.el_id[best]
            return q.el_id[best]
        if q.strategy == RANDOM:
            return q.el_id[self.pool[self._next_random() % <uint64_t>n]]
        if q.strategy == WEIGHTED_RANDOM:
            total = 0
            for k in range(n):
                total += <uint64_t>q.el_score[self.pool[k]]
            r = self._next_random() % total
            for k in range(n):
                i = self.pool[k]
                if r < <uint64_t>q.el_score[i]:
                    return q.el_id[i]
                r -= <uint64_t>q.el_score[i]
        best = self.pool[0]
        for k in range(1, n):
            if self._better(q, self.pool[k], best):
                best = self.pool[k]
        return q.el_id[best]

    def candidates(self, int64_t queue_id):
        cdef _Queue q = self._queue(queue_id)
        cdef Py_ssize_t n = self._pool(q), k, m
        cdef int i
        order = []
        # insertion sort by the strategy's order (pools are small)
        for k in range(n):
            i = self.pool[k]
            m = len(order)
            while m > 0 and self._better(q, i, order[m - 1]):
                m -= 1
            order.insert(m, i)
        return [q.el_id[i] for i in order]

    def next_call(self, int64_t agent_id):
        cdef int slot = self._slot(agent_id)
        cdef _Queue q, best = None
        for q in self._agent_queues[slot]:
            if q.n_w == 0:
                continue
            if best is None or _w_less(
                q.w_prio[0], q.w_seq[0], q.w_call[0], best.w_prio[0], best.w_seq[0], best.w_call[0]
            ):
                best = q
        return -1 if best is None else best.w_call[0]


def _queue_id(_Queue q):
    return q.id
