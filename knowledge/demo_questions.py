"""The example questions the empty chat offers, chosen for the default 劳动法规 KB.

Each is answered from articles that KB holds (checked with `python -m rag search`: 劳动合同法
第三十一条, 第四十六/四十七条, 第十九条, 第十条 and 劳动争议调解仲裁法第二十七条 come back in the
top 5). The first is the product demo's
question (overtime pay computed on the wrong base, README screenshot); the others come from
knowledge/examples/labor_questions.jsonl, shortened. Does not: check retrieval at run time.
"""
from __future__ import annotations

# The product demo: the contract says 8000 a month, overtime is paid on a 3000 base.
DEMO_QUESTION = ("我有考勤记录截图和与领导沟通加班的微信记录。劳动合同写的是月薪8000元，但公司一直按基本工资"
                 "3000元为基数算加班费。我主张最近一年的。")
# (button label, the question asked): a label fits on one button line; the click asks the
# whole question, exactly as if it had been typed.
CHAT_EXAMPLES: tuple[tuple[str, str], ...] = (
    ("加班费基数：合同月薪 8000，公司按 3000 算", DEMO_QUESTION),
    ("公司提出解除合同，干了三年四个月，补偿多少？",
     "公司提出和我解除劳动合同，我在公司干了三年零四个月，能拿到多少经济补偿？"),
    ("两年的合同约定六个月试用期，合法吗？", "我签了两年的劳动合同，公司在合同里写了六个月试用期，这样合法吗？"),
    ("入职三个月还没签书面合同，能要求什么？", "入职快三个月了，公司一直不跟我签书面劳动合同，我可以要求公司赔偿什么？"),
    ("公司没交社保，我辞职能要经济补偿吗？", "公司从来没给我交过社保，我想马上辞职，还能要经济补偿吗？"),
    ("被辞退时欠薪，八个月后还能申请仲裁吗？", "被辞退时公司还欠我两个月工资，现在已经过去八个月了，还能申请劳动仲裁吗？"),
)
