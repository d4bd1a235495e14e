"""rag/answer/numbers.py: figures read from Chinese and Arabic numerals, compared and shown back."""
import pytest

from rag.answer.numbers import comparable, quantities, read_number, same_value, show
from rag.documents.statutes import int_to_cn


@pytest.mark.parametrize("text, value", [
    ("150", 150), ("1,000", 1000), ("1.5", 1.5), ("一百五十", 150), ("一点五", 1.5), ("两", 2), ("半", 0.5),
    ("五万", 50000), ("十二", 12), ("二百", 200), ("三亿", 3e8),
])
def test_read_number_chinese_and_arabic(text, value):
    assert read_number(text) == value


@pytest.mark.parametrize("n", [1, 2, 10, 12, 16, 30, 36, 60, 150, 200, 300, 1000, 2000])
def test_numerals_read_both_ways(n):
    """A number written in Chinese reads back as the same value as the Arabic one."""
    (cn,), (ar,) = quantities(f"{int_to_cn(n)}日"), quantities(f"{n}天")
    assert cn.value == ar.value == n
    assert same_value(cn, ar)


def one(text):
    (q,) = quantities(text)
    return q


@pytest.mark.parametrize("a, b", [
    ("百分之一百五十", "150%"), ("150%", "1.5倍"), ("一点五倍", "1.5倍"), ("百分之二百", "两倍"),
    ("一年", "十二个月"), ("一倍半", "百分之一百五十"), ("一倍半", "1.5倍"), ("两个月", "2个月"), ("60天", "六十日"), ("半年", "6个月"), ("十六周岁", "16岁"),
    ("五万元", "50000元"), ("两千元", "2000元"), ("三十六小时", "36小时"), ("二分之一", "50%"),
])
def test_same_value_across_forms(a, b):
    assert same_value(one(a), one(b))


@pytest.mark.parametrize("a, b", [("2倍", "百分之一百五十"), ("一年", "六十日"), ("三十日", "十五日"), ("两个月", "六十日"),
                                  ("一个月", "三十日"), ("一倍半", "2倍"),
                                  ("十六周岁", "十八周岁"), ("2000元", "三千元")])
def test_different_values_differ(a, b):
    assert not same_value(one(a), one(b))


def test_months_and_days_compare_but_are_never_equal():
    """两个月 and 六十日 are both limits (a mismatch can be named) but not the same limit."""
    assert comparable(one("两个月"), one("六十日")) and not same_value(one("两个月"), one("六十日"))


@pytest.mark.parametrize("text, value", [("一倍半", 1.5), ("百分之一百五十", 1.5), ("150%", 1.5), ("1.5倍", 1.5),
                                         ("二分之一", 0.5), ("六十日", 60), ("两个月", 2), ("十六周岁", 16)])
def test_the_briefs_forms_are_read(text, value):
    assert one(text).value == value


def test_figures_of_other_kinds_are_not_compared():
    assert not same_value(one("十二个月"), one("十二周岁"))
    assert not same_value(one("2倍"), one("2天"))


@pytest.mark.parametrize("text", ["2018年1月1日起施行", "第三个月", "第二年", "二〇一八年"])
def test_dates_and_ordinals_are_not_figures(text):
    assert quantities(text) == []


def test_a_range_is_two_figures():
    assert [q.value for q in quantities("处一倍以上三倍以下的罚款")] == [1, 3]


@pytest.mark.parametrize("text, shown", [("百分之一百五十", "150%"), ("2倍", "2 倍"), ("六十日", "60 日"),
                                         ("一年", "1 年"), ("三个月", "3 个月"), ("十六周岁", "16 周岁"),
                                         ("五万元", "50000 元")])
def test_show_writes_the_value_for_a_message(text, shown):
    assert show(one(text)) == shown


def test_a_rate_is_not_compared_with_a_multiple_written_in_bei():
    """年利率24% is a rate; 四倍 (of the LPR) a multiple: different things, never a mismatch."""
    rate, times = quantities("年利率24%")[0], quantities("贷款市场报价利率四倍")[0]
    assert not comparable(rate, times) and not comparable(times, rate)
    assert comparable(quantities("150%")[0], quantities("1.5倍")[0])  # a wage multiple still is one
    assert comparable(quantities("百分之五十")[0], quantities("二分之一")[0])
