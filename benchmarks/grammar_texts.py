"""Realistic texts that drive the engines through the bundled grammars in the benchmarks.

Short test-style snippets ("1 + 2") say little about the cost of a real generation, where
masks are asked for long stretches inside strings, identifiers and nested structures. These
texts look like what a model is asked to produce: API responses and configs serialised in
several layouts, analytical SQL, formulas, drug molecules, spreadsheets, C functions.
``grammar_masks.py`` checks with Lark's own parser that each is in its grammar's language.
"""

from __future__ import annotations

import json

_USER_PROFILE = {
    "id": 48213,
    "username": "zoë_müller",
    "display_name": "Zoë Müller 🦊",
    "email": "zoe.mueller@example.org",
    "verified": True,
    "karma": -12.5,
    "created_at": "2021-03-14T15:09:26.535Z",
    "address": {
        "street": "Königsallee 27",
        "city": "Düsseldorf",
        "postcode": "40212",
        "geo": {"lat": 51.2254, "lon": 6.7763},
    },
    "languages": ["de", "en", "fr"],
    "bio": 'Data engineer.\nLoves "SQL" and \\backslashes\\; 東京 → Zürich.',
    "last_orders": [
        {"sku": "B-1042", "qty": 2, "price": 19.99, "gift": False, "note": None},
        {"sku": "C-7781", "qty": 1, "price": 1.5e3, "gift": True, "note": "Happy birthday! 🎂"},
    ],
    "settings": {"theme": "dark", "notifications": {"email": False, "push": True, "digest": "weekly"}},
}

_FEATURE_COLLECTION = {
    "type": "FeatureCollection",
    "features": [
        {
            "type": "Feature",
            "id": f"station-{index}",
            "geometry": {"type": "Point", "coordinates": [lon, lat, elevation]},
            "properties": {"name": name, "capacity": capacity, "open": is_open},
        }
        for index, (lon, lat, elevation, name, capacity, is_open) in enumerate(
            [
                (-122.4194, 37.7749, 16, "Market & 4th", 35, True),
                (2.3522, 48.8566, 35, "Place de la République", 52, True),
                (139.6917, 35.6895, 40, "新宿駅西口", 18, False),
                (-0.1276, 51.5072, 11, "King's Cross", 60, True),
            ]
        )
    ],
    "bbox": [-122.4194, 35.6895, 139.6917, 51.5072],
}

_LOG_EVENTS = [
    {
        "ts": 1714557600123,
        "level": "ERROR",
        "logger": "payments.gateway",
        "message": 'Timeout after 30000 ms calling "https://api.example.com/v2/charge"',
        "context": {"retry": 3, "idempotency_key": "a1b2c3d4-e5f6", "amount_cents": 129900},
        "stack": ["at charge (gateway.py:212)", "at handle\t(worker.py:88)"],
    },
    {
        "ts": 1714557600456,
        "level": "INFO",
        "logger": "auth",
        "message": "User logged in from Paris, café Wi-Fi",
        "context": {"user_id": 48213, "mfa": True, "ip": "203.0.113.7", "latency_ms": 0.87},
        "stack": [],
    },
    {
        "ts": 1714557601789,
        "level": "WARN",
        "logger": "cache",
        "message": "Evicted 1.2E+4 entries; hit ratio −3% ↓",
        "context": {"region": "eu-west-1", "ratio": 0.9132, "previous": 0.9431, "threshold": None},
        "stack": None,
    },
]

_SERVICE_CONFIG = {
    "version": 3,
    "services": {
        "web": {
            "image": "nginx:1.25-alpine",
            "ports": ["80:80", "443:443"],
            "depends_on": {"api": {"condition": "service_healthy"}},
            "deploy": {"resources": {"limits": {"cpus": "0.50", "memory": "256M"}, "reservations": {}}},
        },
        "api": {
            "build": {"context": "./api", "args": {"PYTHON_VERSION": "3.11"}},
            "environment": {"DATABASE_URL": "postgres://app@db:5432/app", "WORKERS": 4, "DEBUG": False},
            "healthcheck": {"test": ["CMD", "curl", "-f", "http://localhost:8000/health"], "retries": 5},
        },
    },
    "volumes": {"pgdata": {}, "cache": {"driver": "local"}},
}

_CHAT_COMPLETION = {
    "id": "chatcmpl-9xYz",
    "object": "chat.completion",
    "created": 1715000000,
    "model": "llama-3-8b-instruct",
    "choices": [
        {
            "index": 0,
            "message": {
                "role": "assistant",
                "content": "Here is the translation:\n\n« Le chat dort sur le canapé. »\n"
                "In Japanese: 「猫はソファで寝ています。」",
                "tool_calls": [
                    {
                        "id": "call_1",
                        "type": "function",
                        "function": {
                            "name": "get_weather",
                            "arguments": '{"city": "Kyoto", "unit": "celsius"}',
                        },
                    }
                ],
            },
            "logprobs": None,
            "finish_reason": "tool_calls",
        }
    ],
    "usage": {"prompt_tokens": 57, "completion_tokens": 112, "total_tokens": 169},
}

JSON_TEXTS = (
    json.dumps(_USER_PROFILE, indent=2, ensure_ascii=False),
    json.dumps(_FEATURE_COLLECTION, separators=(",", ":"), ensure_ascii=False),
    json.dumps(_LOG_EVENTS, indent=4),
    json.dumps(_SERVICE_CONFIG, indent="\t"),
    json.dumps(_CHAT_COMPLETION, indent=2, ensure_ascii=False) + "\n",
    json.dumps([[1, [2, [3, [4, [5, [6, [7, [8, []]]]]]]]], {"a": {"b": {"c": {"d": {"e": "deep"}}}}}]),
)

SQL_TEXTS = (
    """SELECT c.customer_id, c.name, COUNT(o.order_id) AS orders, SUM(o.total) AS revenue
FROM customers c
INNER JOIN orders o ON o.customer_id = c.customer_id
WHERE o.created_at >= '2024-01-01' AND o.status <> 'cancelled'
GROUP BY c.customer_id, c.name
HAVING SUM(o.total) > 1000
ORDER BY revenue DESC
LIMIT 20;""",
    """-- monthly active users per country
select u.country, count(distinct e.user_id) as mau
from events e left outer join users u on u.id = e.user_id
where e.event_type in ('login', 'purchase', 'share')
  and e.ts between '2024-04-01' and '2024-04-30'
  and u.email not like '%@test.example.com'
group by u.country
order by mau desc, u.country asc;""",
    """INSERT INTO products (sku, name, price, stock, description)
VALUES ('B-1042', 'Wireless mouse', 19.99, 250, 'Ergonomic, 2.4 GHz'),
       ('C-7781', 'Café au lait mug', 8.5, 1200, 'It''s dishwasher-safe'),
       ('D-0001', 'USB-C cable (2 m)', 5, 0, NULL);""",
    """SELECT p.name, p.price
FROM products AS p
WHERE p.price > (SELECT AVG(price) FROM products WHERE category_id = p.category_id)
  AND p.stock IS NOT NULL
  /* only items that sold recently */
  AND p.id IN (SELECT product_id FROM order_items WHERE quantity * unit_price >= 100.0)
ORDER BY p.price DESC LIMIT 10 OFFSET 20""",
    """SELECT d.name AS department, e.first_name || ' ' || e.last_name AS employee,
       e.salary, e.salary - (SELECT MIN(salary) FROM employees) AS above_min
FROM departments d
RIGHT JOIN employees e ON e.department_id = d.id AND NOT e.terminated = TRUE
CROSS JOIN "fiscal_years" fy
WHERE fy.year = 2024 AND (e.salary BETWEEN 40000 AND 90000 OR e.title LIKE '%Director%')""",
    """insert into audit_log (event, payload, created_by)
select 'price_change', p.sku, `order`.clerk
from products p full join `order` on `order`.sku = p.sku
where -p.discount % 5 = 0 or p.price / 2.5e1 <= 3""",
)

ARITHMETIC_TEXTS = (
    "3.14159 * r^2",
    "(-b + sqrt(b^2 - 4*a*c)) / (2*a)",
    "principal * (1 + rate / 12)^(12 * years) - fees",
    "0.5 * m * v^2 + m * g * h",
    "sin(theta)^2 + cos(theta)^2 - 1",
    "-2^-2 * (x_1 + x_2 + x_3) % 7",
    "exp(-(x - mu)^2 / (2 * sigma^2)) / (sigma * sqrt(2 * 3.141592653589793))",
    "max(a, b, min(c, d)) + abs(-3.5e-4) * 6.02214076E23",
    "log(1 + .25) / log(2)",
    "((((1 + 2) * 3 - 4) / 5) ^ 6) % 7",
)

SMILES_TEXTS = (
    "CC(=O)OC1=CC=CC=C1C(=O)O",  # aspirin
    "CN1C=NC2=C1C(=O)N(C(=O)N2C)C",  # caffeine
    "CC(C)CC1=CC=C(C=C1)C(C)C(=O)O",  # ibuprofen
    "CC(=O)Nc1ccc(O)cc1",  # paracetamol, aromatic
    "OC[C@H]1OC(O)[C@H](O)[C@@H](O)[C@@H]1O",  # glucose
    "CC1([C@@H](N2[C@H](S1)[C@@H](C2=O)NC(=O)CC3=CC=CC=C3)C(=O)O)C",  # penicillin G
    "[Na+].[Cl-]",  # sodium chloride
    "[13CH4]",  # carbon-13 methane
    "F/C=C/F",  # trans-difluoroethene
    "C[C@@H](C(=O)O)N",  # L-alanine
    "CC(C)[C@@H]1CC[C@@H](C)C[C@H]1O",  # menthol
    "C1CCCCCCCCC%10CCCCCCCCC1%10",  # ring closures with %nn
    "[CH3:1][C:2](=[O:3])[OH:4]",  # acetic acid with atom classes
    "C[C@]12CC[C@H]3[C@H]([C@@H]1CC[C@@H]2O)CCC4=CC(=O)CC[C@]34C",  # testosterone
)

CSV_TEXTS = (
    """id,name,email,signup_date,plan,monthly_spend
1,Zoë Müller,zoe@example.org,2021-03-14,pro,49.00
2,"O'Brien, Liam",liam@example.com,2022-11-02,free,0
3,山田 太郎,taro@example.jp,2023-07-21,team,249.50
4,"Quote ""the"" CEO",ceo@example.net,2024-01-01,enterprise,1999.99
""",
    """date,ticker,open,high,low,close,volume\r
2024-05-01,ACME,101.5,103.2,100.9,102.8,1203400\r
2024-05-02,ACME,102.8,104.0,,103.1,987000\r
2024-05-03,ACME,103.1,"105,2",102.2,104.9,1544210""",
    """sku,description,tags
B-1042,"Wireless mouse
with USB receiver","office,peripherals"
C-7781,Café au lait mug,kitchen
""",
)

C_TEXTS = (
    """/* Greatest common divisor, iterative. */
unsigned long gcd(unsigned long a, unsigned long b)
{
    while (b != 0) {
        unsigned long t = a % b;
        a = b;
        b = t;
    }
    return a;
}
""",
    """static double mean(const double *values, int n)
{
    double sum = 0.0;
    if (n <= 0)
        return 0.0;
    for (int i = 0; i < n; ++i)
        sum += values[i];
    return sum / (double)n;
}

int count_words(const char *s)
{
    int words = 0, in_word = 0;
    for (; *s; s++) {
        if (*s == ' ' || *s == '\\n' || *s == '\\t') {
            in_word = 0;
        } else if (!in_word) {
            in_word = 1;
            words++;
        }
    }
    return words;
}
""",
    """int main(int argc, char *argv[])
{
    int total = 0;
    for (int i = 1; i < argc; i++) {
        total += parse_int(argv[i], 10) << 1;  // doubled
    }
    printf("total = %d\\n", total > 0 ? total : -total);
    return total == 0;
}
""",
)

EMAIL_TEXTS = (
    "zoe.mueller@example.org",
    "first.last+newsletter@mail.example.co.uk",
    '"john doe"@example.com',
    "admin@[192.168.0.1]",
    "x_y-z.123@sub-domain.example-host.net",
    "o'reilly!#$%&*=?^`{|}~@example.io",
)

TEXTS: dict[str, tuple[str, ...]] = {
    "json": JSON_TEXTS,
    "sql": SQL_TEXTS,
    "arithmetic": ARITHMETIC_TEXTS,
    "smiles": SMILES_TEXTS,
    "csv": CSV_TEXTS,
    "c_subset": C_TEXTS,
    "email_address": EMAIL_TEXTS,
}
