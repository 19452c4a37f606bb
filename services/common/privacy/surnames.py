"""Chinese surnames, simplified and traditional, for finding names after a label or before an honorific.

About 400 single-character surnames (500 characters with traditional forms) cover the overwhelming majority of
the population; compound surnames are few.
A name whose surname is not listed here is not found (see docs/info_share.md, "Limits").
"""

from __future__ import annotations

_SIMPLIFIED = (
    "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁任沈姚卢姜崔"
    "钟谭陆汪范金石廖贾夏韦付傅方白邹孟熊秦邱江尹薛闫阎段雷侯龙史陶黎贺顾毛郝龚邵万钱严覃武戴莫孔向汤常温康施文牛"
    "樊葛邢安齐易乔伍庞颜倪庄聂章鲁岳翟殷詹申欧耿关兰焦俞左柳甘祝包宁尚符舒阮柯纪梅童凌毕单季裴霍涂成苗谷盛曲翁冉"
    "骆蓝路游辛靳管柴蒙鲍华喻祁蒲房滕屈饶解牟艾尤阳时穆农司卓古吉缪简车项连芦麦褚娄窦戚岑景党宫费卜冷晏席卫米柏宗"
    "瞿桂全佟应臧闵苟邬边卞姬师和仇栾隋商刁沙荣巫寇桑郎甄丛仲虞敖巩明佘池查麻苑迟邝官封谈匡鞠惠荆乐冀郁胥南班储原"
    "栗燕楚鄢劳谌奚皮粟冼蔺楼盘满闻位厉伊仝区郜海阚花权强帅屠豆朴盖练廉禹井祖漆巴丰支卿国狄平计索宣晋相初门云容敬"
    "来扈晁芮都普阙浦戈伏鹿薄邸雍辜羊乌母裘亓修邰赫杭况那宿鲜印逯隆茹诸战慕危玉银亢嵇公哈湛宾戎勾茅利於呼居揭干但"
    "尉冶斯元束檀衣信展阴昝智幸奉植衡富尧闭由"
)
# Traditional forms of the simplified surnames above that differ from them.
_TRADITIONAL = (
    "張劉陳楊黃趙吳孫馬鄭謝許韓馮鄧蕭蔣葉蘇呂盧鍾譚陸賈韋鄒閻龍陶賀顧龔萬錢嚴湯溫喬龐顏莊聶魯歐關蘭寧紀單畢裴塗"
    "駱藍遊靳鮑華饒繆簡車項連蘆竇費衛臧閔鄔邊樂鄺羅鐘劉戴孫聞厲區闞權帥練廉漆鄢勞諶藺樓盤滿鹿薄雍烏諸戰慕銀嵇賓"
    "陰堯閉喬齊楊應師欒隋鞏苑遲匡鞠惠荊冀郁儲燕楚奚粟冼黎覃龐傅閆"
)
COMPOUND_SURNAMES = frozenset({
    "欧阳", "歐陽", "司马", "司馬", "诸葛", "諸葛", "上官", "东方", "東方", "皇甫", "尉迟", "尉遲", "公孙", "公孫",
    "慕容", "夏侯", "令狐", "宇文", "长孙", "長孫", "司徒", "端木", "独孤", "獨孤", "南宫", "南宮", "西门", "西門",
    "轩辕", "軒轅", "呼延", "百里", "澹台", "澹臺", "申屠", "钟离", "鍾離", "闻人", "聞人", "赫连", "赫連",
})
SURNAMES = frozenset(_SIMPLIFIED) | frozenset(_TRADITIONAL)
